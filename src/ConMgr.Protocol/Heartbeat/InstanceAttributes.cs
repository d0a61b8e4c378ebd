// InstanceAttributes.cs: an instance's role and state as the watchdog's attribute checker sees it.
namespace ConMgr.Protocol.Heartbeat;

/// <summary>
/// Attributes of one instance. <see cref="Available"/> false means the watchdog cannot reach its
/// instance: every other field is then the last known value and must not be routed on.
/// </summary>
/// <param name="Timeline">Current timeline (primary: of its WAL insert position; standby: received or replayed).</param>
/// <param name="Lsn">Primary: current WAL LSN; standby: last replayed LSN.</param>
/// <param name="ReplayLagUs">Standby replay lag in microseconds (0 when caught up); −1 on a primary or when unknown.</param>
/// <param name="Sequence">Incremented by the watchdog on every change it pushes.</param>
/// <param name="ReadOnlySessions">The watchdog library is loaded (shared_preload_libraries) and defines watchdog.read_only_session: a session can be kept read-only there (conmgr's read-only port).</param>
public sealed record InstanceAttributes(
    bool Available,
    bool InRecovery,
    bool DefaultTransactionReadOnly,
    int Timeline,
    long SystemIdentifier,
    long Lsn,
    long ReplayLagUs,
    int ServerVersionNum,
    int Sequence,
    bool ReadOnlySessions = false)
{
    public static InstanceAttributes Unavailable { get; } = new(false, false, false, 0, 0, 0, -1, 0, 0);

    /// <summary><c>primary</c>, <c>standby</c>, or <c>unknown</c> when the instance is unavailable.</summary>
    public string Role => !Available ? "unknown" : InRecovery ? "standby" : "primary";

    /// <summary>libpq's read-write: not in recovery and default_transaction_read_only off.</summary>
    public bool IsReadWrite => Available && !InRecovery && !DefaultTransactionReadOnly;

    /// <summary>True when the two differ in anything a router or an operator cares about (not lag, LSN or sequence).</summary>
    public bool RoleDiffers(InstanceAttributes other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Available != other.Available || InRecovery != other.InRecovery || DefaultTransactionReadOnly != other.DefaultTransactionReadOnly
            || Timeline != other.Timeline || SystemIdentifier != other.SystemIdentifier || ReadOnlySessions != other.ReadOnlySessions;
    }
}
