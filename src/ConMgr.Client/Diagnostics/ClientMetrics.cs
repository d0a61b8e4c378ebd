// ClientMetrics.cs: the client library's instruments (System.Diagnostics.Metrics, meter "ConMgr.Client").
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ConMgr.Client.Diagnostics;

/// <summary>
/// What an operator needs to see from the client side: how connections were handed out (from
/// the pool, early, after conmgr's answer, directly), how long that took, how many connections
/// conmgr reported lost, and the pools (OpenTelemetry's <c>db.client.connection.*</c> names).
/// Open measurements are tagged with the host list entry that served them (<c>server.address</c>,
/// <c>server.port</c>: the conmgr, or the postmaster of a direct entry); pool measurements with
/// the data source's name and the instance. Subscribe with OpenTelemetry's
/// <c>AddMeter("ConMgr.Client")</c> or a <see cref="MeterListener"/>.
/// </summary>
public static class ClientMetrics
{
    public const string MeterName = "ConMgr.Client";

    /// <summary>Tag on <c>conmgr.client.connection.opens</c> and <c>.create_time</c>: how the connection was found.</summary>
    public const string OpenTag = "conmgr.open";

    /// <summary>An idle pooled connection, handed out without asking conmgr.</summary>
    public const string OpenedPooled = "pooled";

    /// <summary>Phase two started beside phase one, and conmgr named that instance.</summary>
    public const string OpenedEarly = "early";

    /// <summary>Phase two after conmgr's answer (no forecast, or a wrong one).</summary>
    public const string OpenedAfterAnswer = "after_answer";

    /// <summary>A postmaster entry of the host list, connected directly.</summary>
    public const string OpenedDirect = "direct";

    private static readonly Meter Meter = new(MeterName, typeof(ClientMetrics).Assembly.GetName().Version?.ToString());

    private static readonly ConcurrentDictionary<ConMgrDataSource, byte> Sources = new();

    private static readonly Counter<long> Opens = Meter.CreateCounter<long>(
        "conmgr.client.connection.opens", "{connection}", "Connections ConMgrDataSource handed out, by how they were found (conmgr.open).");

    // Pooled opens take microseconds, new ones milliseconds, and a failover seconds: buckets for all three.
    private static readonly Histogram<double> CreateTime = Meter.CreateHistogram(
        "conmgr.client.connection.create_time",
        "s",
        "Time OpenConnectionAsync took, from the call to the open connection: both phases, and any host list entries tried before the one that served it.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    private static readonly Counter<long> Abandoned = Meter.CreateCounter<long>(
        "conmgr.client.early_open.abandoned", "{connection}", "Early opens closed unused because conmgr named another instance or none.");

    private static readonly Counter<long> Lost = Meter.CreateCounter<long>(
        "conmgr.client.connection.lost", "{connection}", "Physical connections broken or evicted because conmgr reported their instance lost or conmgr went away.");

    private static readonly Counter<long> Unbreakable = Meter.CreateCounter<long>(
        "conmgr.client.connection.unbreakable", "{connection}", "Physical connections whose socket this Npgsql version hides: a loss report cannot fail their command in flight.");

    private static readonly UpDownCounter<long> Pending = Meter.CreateUpDownCounter<long>(
        "db.client.connection.pending_requests", "{request}", "Opens waiting for a connection: asking conmgr, opening, or waiting for the pool.");

    static ClientMetrics() =>
        Meter.CreateObservableUpDownCounter("db.client.connection.count", ObservePools, "{connection}", "Connections in each instance pool, by state (idle, used).");

    internal static void RecordOpen(string how, string host, int port, long startTimestamp)
    {
        var tags = ServerTags(host, port);
        tags.Add(OpenTag, how);
        Opens.Add(1, tags);
        CreateTime.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    internal static void RecordAbandoned(string host, int port) => Abandoned.Add(1, ServerTags(host, port));

    internal static void RecordLost(string host, int port, int connections) => Lost.Add(connections, ServerTags(host, port));

    internal static void RecordUnbreakable(string host, int port) => Unbreakable.Add(1, ServerTags(host, port));

    internal static void PendingChanged(string poolName, int delta) => Pending.Add(delta, new KeyValuePair<string, object?>("db.client.connection.pool.name", poolName));

    internal static void Register(ConMgrDataSource source) => Sources[source] = 0;

    internal static void Unregister(ConMgrDataSource source) => Sources.TryRemove(source, out _);

    private static IEnumerable<Measurement<long>> ObservePools()
    {
        foreach (var source in Sources.Keys)
        {
            foreach (var (name, host, port, idle, used) in source.PoolCounts())
            {
                var tags = ServerTags(host, port);
                tags.Add("db.client.connection.pool.name", name);
                var idleTags = tags;
                idleTags.Add("db.client.connection.state", "idle");
                tags.Add("db.client.connection.state", "used");
                yield return new Measurement<long>(idle, idleTags);
                yield return new Measurement<long>(used, tags);
            }
        }
    }

    /// <summary>OpenTelemetry's names for the peer a measurement is about.</summary>
    private static TagList ServerTags(string host, int port) => new() { { "server.address", host }, { "server.port", port } };
}
