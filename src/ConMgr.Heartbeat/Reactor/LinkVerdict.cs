// LinkVerdict.cs: why a link ended, with what the verdict was based on, for the log line that announces it.
namespace ConMgr.Heartbeat.Reactor;

/// <summary>
/// A link's end and its evidence. A timeout is only ever given after the socket was drained
/// (<see cref="UnreadBytes"/> is what was left that did not make a frame) and with the time
/// this process itself was not running (<see cref="Excused"/>) taken out of the silence.
/// </summary>
/// <param name="Kind">How it ended.</param>
/// <param name="Reason">The reason, for the log and for conmgr's last_error.</param>
/// <param name="Silence">Wall time since the last frame arrived (or since establishment).</param>
/// <param name="Excused">Of that silence, the time this process was paused (not counted against the peer).</param>
/// <param name="Lateness">How late this process acted on the verdict's deadline.</param>
/// <param name="UnreadBytes">Bytes the final drain found that did not complete a frame.</param>
/// <param name="System">CPU steal and pressure when the verdict was given, where the kernel reports them.</param>
public sealed record LinkVerdict(LinkEnd Kind, string Reason, TimeSpan Silence, TimeSpan Excused, TimeSpan Lateness, int UnreadBytes, string? System)
{
    /// <summary>For a link that ended for a reason that needs no evidence (a Goodbye, a local end).</summary>
    public static LinkVerdict Plain(LinkEnd kind, string reason, TimeSpan silence) => new(kind, reason, silence, TimeSpan.Zero, TimeSpan.Zero, 0, null);

    /// <summary>"silence 3012 ms (412 ms of it this process paused), acted 2 ms late, 0 bytes unread, CPU steal 0.0 %, pressure some avg10 3.21".</summary>
    public string Evidence
    {
        get
        {
            var silence = $"silence {(long)Silence.TotalMilliseconds} ms";
            if (Kind != LinkEnd.Timeout)
            {
                // Only a timeout is a judgement; the other ends were announced by the peer or the socket.
                return silence;
            }

            return silence
                + (Excused > TimeSpan.Zero ? $" ({(long)Excused.TotalMilliseconds} ms of it this process paused, not counted)" : string.Empty)
                + $", acted {(long)Lateness.TotalMilliseconds} ms after the deadline, {UnreadBytes} bytes unread"
                + (System is null ? string.Empty : $", {System}");
        }
    }
}
