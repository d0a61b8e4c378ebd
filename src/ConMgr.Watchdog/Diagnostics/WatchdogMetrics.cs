// WatchdogMetrics.cs: the watchdog's instruments (System.Diagnostics.Metrics), exported on watchdog.http_port's /metrics.
using System.Diagnostics.Metrics;

namespace ConMgr.Watchdog.Diagnostics;

/// <summary>
/// Every metric the watchdog has (docs/http.md, "Watchdog metrics"). Recording is a no-op unless
/// watchdog.http_port is on.
/// </summary>
public static class WatchdogMetrics
{
    public const string MeterName = "ConMgr.Watchdog";

    private static readonly Meter Meter = new(MeterName, Program.Version);

    /// <summary>Check durations in seconds: a local query (~1 ms) to one stuck behind a lock (10 s).</summary>
    private static readonly double[] CheckBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly Histogram<double> CheckDuration = Meter.CreateHistogram(
        "watchdog.attribute_check.duration", "s", "Time each attribute check took, failed ones included", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CheckBuckets });

    private static readonly Counter<long> CheckFailures = Meter.CreateCounter<long>("watchdog.attribute_check.failures", "{check}", "Attribute checks that failed: unavailable (the instance could not be queried) or internal (a bug)");

    private static readonly Counter<long> Terminations = Meter.CreateCounter<long>("watchdog.terminations", "{termination}", "Times the terminator acted for a lost conmgr, by outcome (done, failed)");

    private static readonly Counter<long> SessionsKilled = Meter.CreateCounter<long>("watchdog.sessions.terminated", "{session}", "Sessions of lost conmgr hosts terminated");

    private static readonly Counter<long> Refusals = Meter.CreateCounter<long>("watchdog.heartbeat.refusals", "{connection}", "Heartbeat connections refused before they became links, by kind (tls, secret, hello, plaintext, pending, slots, protocol)");

    private static readonly Counter<long> Lookups = Meter.CreateCounter<long>("watchdog.auth_lookups", "{lookup}", "Authentication lookups answered for conmgr (preauth), by status (found, nosuchrole, nopassword, expired, refused, refusedlink, failed)");

    private static Func<int>? _peers;

    static WatchdogMetrics()
    {
        Meter.CreateObservableGauge("watchdog.peers", () => _peers?.Invoke() ?? 0, "{peer}", "conmgr processes whose heartbeat link is registered now");
    }

    /// <summary>Where the peer gauge reads from: called once at start.</summary>
    public static void Observe(Func<int> peers) => _peers = peers;

    public static void RecordRefusal(string kind) => Refusals.Add(1, new KeyValuePair<string, object?>("watchdog.kind", kind));

    public static void RecordLookup(Protocol.Heartbeat.AuthLookupStatus status) => Lookups.Add(1, new KeyValuePair<string, object?>("watchdog.status", status.ToString().ToLowerInvariant()));

    public static void RecordCheck(TimeSpan duration) => CheckDuration.Record(duration.TotalSeconds);

    public static void RecordCheckFailure(string reason) => CheckFailures.Add(1, new KeyValuePair<string, object?>("watchdog.reason", reason));

    /// <param name="killed">Sessions terminated; −1 when the terminator could not act.</param>
    public static void RecordTermination(long killed)
    {
        Terminations.Add(1, new KeyValuePair<string, object?>("watchdog.outcome", killed < 0 ? "failed" : "done"));
        if (killed > 0)
        {
            SessionsKilled.Add(killed);
        }
    }
}
