// ConMgrMetrics.cs: conmgr's instruments (System.Diagnostics.Metrics), exported on http_port's /metrics.
using System.Diagnostics.Metrics;
using ConMgr.Daemon.Instances;
using ConMgr.Hosting.Control;

namespace ConMgr.Daemon.Diagnostics;

/// <summary>
/// Every metric conmgr has, in one place (docs/http.md, "Metrics", lists them with their Prometheus
/// names). Counters and the RTT histogram are recorded where things happen; the per-instance and
/// per-session gauges are read from the instance table and the connection registry at each scrape,
/// so they cannot drift from what <c>cm_ctl status</c> shows. Without a listener (http_port = 0)
/// recording is a no-op.
/// </summary>
public static class ConMgrMetrics
{
    public const string MeterName = "ConMgr";

    private static readonly Meter Meter = new(MeterName, Program.Version);

    /// <summary>RTT buckets in seconds: loopback (~0.1 ms) to a distressed WAN (2.5 s).</summary>
    private static readonly double[] RttBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private static readonly string[] LinkStates = ["down", "connecting", "up", "interrupted"];

    private static readonly Histogram<double> Rtt = Meter.CreateHistogram(
        "conmgr.heartbeat.rtt", "s", "Heartbeat round-trip time to each instance's watchdog", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RttBuckets });

    private static readonly Histogram<double> Lookups = Meter.CreateHistogram(
        "conmgr.preauth.lookup.duration", "s", "Time from a preauth login's lookup to the watchdog's answer, by result (answered, failed)", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RttBuckets });

    private static readonly Counter<long> Logins = Meter.CreateCounter<long>("conmgr.preauth.logins", "{login}", "preauth logins on the proxy ports, by result (ok, refused, failed)");

    private static readonly Counter<long> Losses = Meter.CreateCounter<long>("conmgr.heartbeat.losses", "{loss}", "Heartbeat links lost: the instance's clients were failed");

    private static readonly Counter<long> Resolves = Meter.CreateCounter<long>("conmgr.resolves", "{resolve}", "Resolve requests on conmgr's port, by target and outcome");

    private static readonly Counter<long> Relayed = Meter.CreateCounter<long>("conmgr.proxy.io", "By", "Bytes relayed by the proxy ports, by port and direction");

    private static readonly Counter<long> ClosedWithError = Meter.CreateCounter<long>("conmgr.connections.closed_with_error", "{connection}", "Application connections conmgr closed with an error (a lost instance, a role change, a refusal), by port and SQLSTATE");

    private static readonly Counter<long> Cancels = Meter.CreateCounter<long>("conmgr.cancel_requests", "{request}", "CancelRequests on the proxy ports, by outcome");

    private static readonly Counter<long> Refused = Meter.CreateCounter<long>("conmgr.connections.refused", "{connection}", "Connections closed at accept, by reason");

    private static readonly Counter<long> Pins = Meter.CreateCounter<long>("conmgr.pool.pins", "{pin}", "Pooled clients pinned to their server connection in transaction mode, by what pinned them (Listen, AdvisoryLock, TempObject, ...)");

    private static readonly Counter<long> PoolWaits = Meter.CreateCounter<long>("conmgr.pool.wait_timeouts", "{client}", "Pooled clients that waited pool_wait_timeout for a server connection, by port");

    private static Func<IReadOnlyList<PoolStatus>>? _pools;
    private static Func<IReadOnlyList<InstanceState>>? _rows;
    private static Func<IReadOnlyDictionary<int, SessionCounts>>? _sessions;

    static ConMgrMetrics()
    {
        Meter.CreateObservableGauge("conmgr.instance.heartbeat.state", ObserveLinkStates, "{state}", "1 for each instance's current heartbeat link state (down, connecting, up, interrupted), 0 for the others");
        Meter.CreateObservableGauge("conmgr.instance.role", ObserveRoles, "{role}", "1 for each instance's role as routing sees it (primary, standby, unknown, stale primary, contested primary, foreign)");
        Meter.CreateObservableGauge("conmgr.instance.timeline", () => PerKnownInstance(row => row.Attributes.Timeline), "{timeline}", "Each reachable instance's timeline");
        Meter.CreateObservableGauge("conmgr.instance.replication.lag", ObserveLagBytes, "By", "WAL a standby has still to replay: the primary's position less the standby's replay position");
        Meter.CreateObservableGauge("conmgr.instance.replay.lag", ObserveReplayLag, "s", "A standby's replay delay as its watchdog measures it (0 once it replayed all it received)");
        Meter.CreateObservableGauge("conmgr.pool.server_connections", ObservePoolServers, "{connection}", "Pooled server connections, by port, instance, database, user and state (active: linked to a client; idle)");
        Meter.CreateObservableGauge("conmgr.pool.waiting_clients", () => PerPool(p => p.Waiting), "{client}", "Pooled clients waiting for a server connection, by port, instance, database and user");
        Meter.CreateObservableGauge("conmgr.pool.pinned_clients", () => PerPool(p => p.Pinned), "{client}", "Transaction-mode clients pinned to their server connection, by port, instance, database and user");
        Meter.CreateObservableGauge("conmgr.sessions", ObserveSessions, "{session}", "Application connections now, by port (resolve, read-write, read-only) and instance");
    }

    /// <summary>Where the gauges read from: called once by the server.</summary>
    public static void Observe(Func<IReadOnlyList<InstanceState>> rows, Func<IReadOnlyDictionary<int, SessionCounts>> sessions)
    {
        _rows = rows;
        _sessions = sessions;
    }

    /// <summary>Where the pool gauges read from, when pooling is on.</summary>
    public static void ObservePools(Func<IReadOnlyList<PoolStatus>> pools) => _pools = pools;

    private static IEnumerable<Measurement<int>> PerPool(Func<PoolStatus, int> value) =>
        (_pools?.Invoke() ?? []).Select(p => new Measurement<int>(value(p), PoolTags(p)));

    private static IEnumerable<Measurement<int>> ObservePoolServers()
    {
        foreach (var pool in _pools?.Invoke() ?? [])
        {
            yield return new Measurement<int>(pool.Active, [.. PoolTags(pool), new("conmgr.state", "active")]);
            yield return new Measurement<int>(pool.Idle, [.. PoolTags(pool), new("conmgr.state", "idle")]);
        }
    }

    private static KeyValuePair<string, object?>[] PoolTags(PoolStatus pool) =>
        [new("conmgr.port", pool.Port), Instance(pool.Instance), new("conmgr.database", pool.Database), new("conmgr.user", pool.User)];

    public static void RecordRtt(int instance, TimeSpan rtt) => Rtt.Record(rtt.TotalSeconds, Instance(instance));

    public static void RecordLoss(int instance) => Losses.Add(1, Instance(instance));

    /// <param name="outcome"><c>routed</c>, <c>refused</c> (no eligible instance) or <c>invalid</c> (an unknown target).</param>
    public static void RecordResolve(string target, string outcome) => Resolves.Add(1, new("conmgr.target", target), new("conmgr.outcome", outcome));

    public static void RecordRelayed(string port, bool fromServer, int bytes)
    {
        if (Relayed.Enabled)
        {
            Relayed.Add(bytes, new("conmgr.port", port), new("conmgr.direction", fromServer ? "to_client" : "to_server"));
        }
    }

    public static void RecordClosedWithError(string port, string sqlState) => ClosedWithError.Add(1, new("conmgr.port", port), new("error.type", sqlState));

    /// <param name="outcome"><c>forwarded</c>, <c>unknown_key</c> or <c>failed</c>.</param>
    public static void RecordCancel(string outcome) => Cancels.Add(1, new KeyValuePair<string, object?>("conmgr.outcome", outcome));

    public static void RecordLookup(TimeSpan duration, bool answered) =>
        Lookups.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("conmgr.result", answered ? "answered" : "failed"));

    public static void RecordPreauthLogin(string result) => Logins.Add(1, new KeyValuePair<string, object?>("conmgr.result", result));

    public static void RecordPoolPin(string reason) => Pins.Add(1, new KeyValuePair<string, object?>("conmgr.reason", reason));

    public static void RecordPoolWaitTimeout(string port) => PoolWaits.Add(1, new KeyValuePair<string, object?>("conmgr.port", port));

    public static void RecordRefused(string reason) => Refused.Add(1, new KeyValuePair<string, object?>("conmgr.reason", reason));

    private static KeyValuePair<string, object?> Instance(int number) => new("conmgr.instance", number);

    private static IReadOnlyList<InstanceState> Rows() => _rows?.Invoke() ?? [];

    private static IEnumerable<Measurement<int>> ObserveLinkStates()
    {
        foreach (var row in Rows())
        {
            var current = row.Link.ToString().ToLowerInvariant();
            foreach (var state in LinkStates)
            {
                yield return new(state == current ? 1 : 0, Instance(row.Settings.Number), new("conmgr.state", state));
            }
        }
    }

    private static IEnumerable<Measurement<int>> ObserveRoles()
    {
        var rows = Rows();
        var view = ClusterView.Of(rows);
        for (var i = 0; i < rows.Count; i++)
        {
            yield return new(1, Instance(rows[i].Settings.Number), new("conmgr.role", view.RoleOf(i, rows[i])));
        }
    }

    private static IEnumerable<Measurement<long>> PerKnownInstance(Func<InstanceState, long> value) =>
        Rows().Where(r => r.Routable).Select(r => new Measurement<long>(value(r), Instance(r.Settings.Number)));

    private static IEnumerable<Measurement<long>> ObserveLagBytes()
    {
        var rows = Rows();
        var view = ClusterView.Of(rows);
        foreach (var row in rows)
        {
            if (row.Routable && view.LagBytesOf(row) is { } lag)
            {
                yield return new(lag, Instance(row.Settings.Number));
            }
        }
    }

    private static IEnumerable<Measurement<double>> ObserveReplayLag()
    {
        foreach (var row in Rows())
        {
            if (row.Routable && ClusterView.ReplayLag(row) is { } lag)
            {
                yield return new(lag.TotalSeconds, Instance(row.Settings.Number));
            }
        }
    }

    private static IEnumerable<Measurement<int>> ObserveSessions()
    {
        var rows = Rows();
        var counts = _sessions?.Invoke() ?? new Dictionary<int, SessionCounts>();

        // Every port of every instance, zeros included, so a session count that drops to 0 is seen as 0.
        for (var i = 0; i < rows.Count; i++)
        {
            var c = counts.GetValueOrDefault(i);
            var number = rows[i].Settings.Number;
            yield return new(c?.Resolve ?? 0, Instance(number), new("conmgr.port", "resolve"));
            yield return new(c?.ReadWrite ?? 0, Instance(number), new("conmgr.port", "read-write"));
            yield return new(c?.ReadOnly ?? 0, Instance(number), new("conmgr.port", "read-only"));
        }
    }
}
