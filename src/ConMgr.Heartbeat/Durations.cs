// Durations.cs: how the heartbeat code writes a time span in log lines and reasons ("3 s", "200 ms").
namespace ConMgr.Heartbeat;

public static class Durations
{
    /// <summary>Whole seconds as "3 s", anything else as whole milliseconds, "200 ms" (PostgreSQL's units).</summary>
    public static string Format(TimeSpan time) =>
        time.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)time.TotalSeconds} s" : $"{(long)time.TotalMilliseconds} ms";
}
