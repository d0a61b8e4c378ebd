// StandbyLagLimit.cs: max_standby_lag: how far behind a standby may be and still take read-only sessions.
namespace ConMgr.Configuration;

/// <summary>
/// <c>max_standby_lag</c>: a WAL distance in bytes, a replay delay, or both (<c>'16MB'</c>,
/// <c>'10s'</c>, <c>'16MB, 10s'</c>); a standby beyond either is not routed read-only sessions.
/// Zero in a component means that component is off; the default is both off.
/// </summary>
public readonly record struct StandbyLagLimit(long Bytes, TimeSpan Time)
{
    public static StandbyLagLimit Off => default;

    public bool IsOff => Bytes == 0 && Time == TimeSpan.Zero;

    /// <summary>True when a standby <paramref name="lagBytes"/> behind the primary, or <paramref name="replayLag"/> behind in replay, is beyond the limit; an unknown lag (null) is never beyond.</summary>
    public bool Exceeded(long? lagBytes, TimeSpan? replayLag) =>
        (Bytes > 0 && lagBytes > Bytes) || (Time > TimeSpan.Zero && replayLag > Time);
}
