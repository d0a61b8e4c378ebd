// HeartbeatSettings.cs: the sub-second heartbeat settings the heartbeat tests run with, and their bounds.
namespace ConMgr.IntegrationTests.Heartbeat;

/// <summary>
/// Short timings keep the suite fast; the bounds asserted are the (timeout + 500 ms for
/// conmgr, timeout + 1 s for the server), loose enough for a noisy 2-core machine. The tight
/// numbers are measured by the benchmarks, not asserted here.
/// </summary>
internal static class HeartbeatSettings
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(1);
    public const int CheckAttrIntervalMs = 500;

    public static readonly TimeSpan ConmgrDetectionBound = HeartbeatTimeout + TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan ServerDetectionBound = HeartbeatTimeout + TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public const string ConmgrLines = """
        heartbeat_interval = 200ms
        heartbeat_timeout = 1s
        heartbeat_connect_interval = 200ms
        heartbeat_connect_timeout = 2s
        log_min_messages = log

        """;
}
