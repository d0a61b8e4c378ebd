// Microseconds.cs: monotonic timestamps as whole microseconds, the unit of the Beat frame's fields.
namespace ConMgr.Heartbeat;

public static class Microseconds
{
    /// <summary>Exact integer conversion: a double loses microseconds on large timestamps, and timestamp × 10⁶ overflows.</summary>
    public static long FromTimestamp(long timestamp, long frequency) =>
        (timestamp / frequency * 1_000_000) + (timestamp % frequency * 1_000_000 / frequency);
}
