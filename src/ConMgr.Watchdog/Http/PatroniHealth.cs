// PatroniHealth.cs: Patroni's REST health checks answered for the watchdog's own instance, from the last attribute check.
using System.Globalization;
using System.Text.Json;
using ConMgr.Configuration;
using ConMgr.Http;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Watchdog.Attributes;

namespace ConMgr.Watchdog.Http;

/// <summary>One state of the instance as the health paths judge it: the last check's results and when it ran.</summary>
public sealed record HealthSnapshot(InstanceAttributes Attributes, HealthDetails Details, DateTimeOffset? LastCheckAt, DateTimeOffset Now, TimeSpan CheckAttrInterval, int Peers);

/// <summary>
/// Patroni's health paths with Patroni's meaning, so HAProxy configurations written for Patroni
/// (<c>option httpchk GET /primary</c>, <c>GET /replica?lag=16MB</c>) work unchanged against
/// ConMgr's watchdogs: 200 when the instance is what the path asks, 503 when not, each with a JSON
/// body like Patroni's. What Patroni reads from its DCS (the leader lock, the leader's position),
/// the watchdog reads from its instance: "primary" is "not in recovery", and a standby's lag is
/// measured against what its upstream last said it has. docs/http.md, "Watchdog".
/// </summary>
public static class PatroniHealth
{
    /// <summary>Liveness fails when no check has ended for this many intervals (plus <see cref="LivenessSlack"/>): the checker is stuck.</summary>
    public const int LivenessIntervals = 3;

    public static readonly TimeSpan LivenessSlack = TimeSpan.FromSeconds(5);

    public static bool IsPrimary(HealthSnapshot s) => s.Attributes is { Available: true, InRecovery: false };

    public static bool IsReplica(HealthSnapshot s) => s.Attributes is { Available: true, InRecovery: true };

    /// <summary>Answers <paramref name="path"/> (one of Patroni's, without the query) for <paramref name="s"/>; <paramref name="query"/> holds <c>lag</c> and <c>replication_state</c> when given.</summary>
    public static HttpAnswer Answer(string path, HealthSnapshot s, IReadOnlyDictionary<string, string?> query)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(query);
        long? maxLag = null;
        if (query.TryGetValue("lag", out var lagText))
        {
            if (!ValueParsers.TryParseSize(lagText, out var parsed))
            {
                return HttpAnswer.BadRequest($"lag: \"{lagText}\" is not a size (bytes, or with a unit: 16kB, 64MB, 1GB)");
            }

            maxLag = parsed;
        }

        query.TryGetValue("replication_state", out var wantedState);
        bool ReplicaOk() => IsReplica(s)
            && (maxLag is not { } max || s.Details.LagBytes(s.Attributes.Lsn) is { } lag && lag <= max)
            && (wantedState is null || string.Equals(wantedState, s.Details.WalReceiverStatus, StringComparison.Ordinal));

        var ok = path switch
        {
            "/primary" or "/master" or "/leader" => IsPrimary(s),
            "/read-write" => IsPrimary(s) && !s.Attributes.DefaultTransactionReadOnly,
            "/replica" => ReplicaOk(),
            "/read-only" => IsPrimary(s) || ReplicaOk(),
            "/health" => s.Attributes.Available,
            "/liveness" => s.LastCheckAt is { } last && s.Now - last <= (s.CheckAttrInterval * LivenessIntervals) + LivenessSlack,
            "/readiness" => IsPrimary(s) || (IsReplica(s) && s.Details.WalReceiverStatus == "streaming" && ReplicaOk()),
            _ => throw new ArgumentOutOfRangeException(nameof(path), path, "not a Patroni health path"),
        };
        return HttpAnswer.Json(ok ? 200 : 503, json => Write(json, s));
    }

    /// <summary>Patroni's body: state, role, server_version, timeline, xlog; plus the watchdog's own fields.</summary>
    private static void Write(Utf8JsonWriter json, HealthSnapshot s)
    {
        var a = s.Attributes;
        json.WriteStartObject();
        json.WriteString("state", a.Available ? "running" : "unavailable");
        if (a.Available)
        {
            json.WriteString("role", a.InRecovery ? "replica" : "primary");
            json.WriteNumber("server_version", a.ServerVersionNum);
            json.WriteNumber("timeline", a.Timeline);
            json.WriteString("database_system_identifier", a.SystemIdentifier.ToString(CultureInfo.InvariantCulture));
            if (s.Details.PostmasterStart is { } start)
            {
                json.WriteString("postmaster_start_time", start);
            }

            json.WriteStartObject("xlog");
            if (a.InRecovery)
            {
                WriteLsn(json, "received_location", s.Details.ReceiveLsn);
                WriteLsn(json, "replayed_location", a.Lsn);
                json.WriteBoolean("paused", s.Details.ReplayPaused);
            }
            else
            {
                WriteLsn(json, "location", a.Lsn);
            }

            json.WriteEndObject();
            if (a.InRecovery)
            {
                if (s.Details.WalReceiverStatus is { } state)
                {
                    json.WriteString("replication_state", state);
                }

                if (s.Details.LagBytes(a.Lsn) is { } lag)
                {
                    json.WriteNumber("lag_bytes", lag);
                }
            }

            json.WriteBoolean("default_transaction_read_only", a.DefaultTransactionReadOnly);
        }

        json.WriteNumber("conmgr_peers", s.Peers);
        json.WriteStartObject("watchdog");
        json.WriteString("version", Program.Version);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteLsn(Utf8JsonWriter json, string name, long lsn)
    {
        if (lsn >= 0)
        {
            json.WriteNumber(name, lsn);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
