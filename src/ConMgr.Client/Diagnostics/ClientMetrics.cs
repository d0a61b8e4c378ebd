// ClientMetrics.cs: the client library's instruments (System.Diagnostics.Metrics, meter "ConMgr.Client").
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ConMgr.Client.Diagnostics;

/// <summary>
/// What an operator needs to see from the client side: how connections were made (and how
/// often the early open paid off), how long the two phases took, and how many connections
/// conmgr reported lost. Every measurement is tagged with the host list entry that served it
/// (<c>server.address</c>, <c>server.port</c>: the conmgr, or the postmaster of a direct entry).
/// Subscribe with OpenTelemetry's <c>AddMeter("ConMgr.Client")</c> or a <see cref="MeterListener"/>.
/// </summary>
public static class ClientMetrics
{
    public const string MeterName = "ConMgr.Client";

    /// <summary>Tag on <c>conmgr.client.connection.opens</c> and <c>.create_time</c>: how phase two went.</summary>
    public const string OpenTag = "conmgr.open";

    /// <summary>Phase two started beside phase one, and conmgr named that instance.</summary>
    public const string OpenedEarly = "early";

    /// <summary>Phase two after conmgr's answer (no forecast, or a wrong one).</summary>
    public const string OpenedAfterAnswer = "after_answer";

    /// <summary>A postmaster entry of the host list, connected directly.</summary>
    public const string OpenedDirect = "direct";

    private static readonly Meter Meter = new(MeterName, typeof(ClientMetrics).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> Opens = Meter.CreateCounter<long>(
        "conmgr.client.connection.opens", "{connection}", "Connections ConMgrDataSource handed out, by how phase two went (conmgr.open).");

    private static readonly Histogram<double> CreateTime = Meter.CreateHistogram<double>(
        "conmgr.client.connection.create_time", "s", "Time OpenConnectionAsync took, from the call to the open connection: both phases, and any host list entries tried before the one that served it.");

    private static readonly Counter<long> Abandoned = Meter.CreateCounter<long>(
        "conmgr.client.early_open.abandoned", "{connection}", "Early opens closed unused because conmgr named another instance or none.");

    private static readonly Counter<long> Lost = Meter.CreateCounter<long>(
        "conmgr.client.connection.lost", "{connection}", "Connections broken because conmgr reported their instance lost or conmgr went away.");

    internal static void RecordOpen(string how, string host, int port, long startTimestamp)
    {
        var tags = ServerTags(host, port);
        tags.Add(OpenTag, how);
        Opens.Add(1, tags);
        CreateTime.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    internal static void RecordAbandoned(string host, int port) => Abandoned.Add(1, ServerTags(host, port));

    internal static void RecordLost(string host, int port) => Lost.Add(1, ServerTags(host, port));

    /// <summary>OpenTelemetry's names for the peer a measurement is about.</summary>
    private static TagList ServerTags(string host, int port) => new() { { "server.address", host }, { "server.port", port } };
}
