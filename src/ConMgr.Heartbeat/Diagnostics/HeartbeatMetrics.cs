// HeartbeatMetrics.cs: the heartbeat thread's own instruments (System.Diagnostics.Metrics), exported by conmgr's and the watchdog's /metrics.
using System.Diagnostics.Metrics;

namespace ConMgr.Heartbeat.Diagnostics;

/// <summary>
/// How punctually the heartbeat reactor of this process is run: the evidence a verdict is judged
/// against (docs/protocol.md, "Verdicts"), and what the soak benchmark reports (docs/benchmarks.md).
/// Recording is a no-op unless the process's http_port is on.
/// </summary>
public static class HeartbeatMetrics
{
    public const string MeterName = "ConMgr.Heartbeat";

    private static readonly Meter Meter = new(MeterName, typeof(HeartbeatMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>From a punctual wake (under 1 ms) to a pause that would have cost a link without pause detection (5 s).</summary>
    private static readonly double[] LatenessBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private static readonly Histogram<double> WakeLateness = Meter.CreateHistogram(
        "heartbeat.thread.wake_lateness", "s", "How much later than planned the heartbeat thread woke, per wake (time it was not run: GC, CPU steal, SIGSTOP, scheduling)", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatenessBuckets });

    private static readonly Counter<long> Pauses = Meter.CreateCounter<long>(
        "heartbeat.thread.pauses", "{pause}", "Wakes late enough to count as a pause of this process (50 ms): the links were given that time back");

    internal static void RecordWake(TimeSpan lateness, bool pause)
    {
        WakeLateness.Record(lateness.TotalSeconds);
        if (pause)
        {
            Pauses.Add(1);
        }
    }
}
