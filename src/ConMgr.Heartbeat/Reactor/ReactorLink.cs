// ReactorLink.cs: one heartbeat connection in the reactor: its descriptor, state and timers as plain fields.
using System.Net;

namespace ConMgr.Heartbeat.Reactor;

/// <summary>
/// Everything the reactor keeps per connection: a few longs and references, no buffer while
/// idle (a partial frame keeps at most one frame's bytes until it completes), no timer object
/// (one priority queue of due times serves all), no task. Touched only on the reactor thread;
/// the watchdog derives its handshake fields from it.
/// </summary>
public class ReactorLink(int fd, IPEndPoint remote, ILinkHandler handler)
{
    public int Fd { get; } = fd;

    public IPEndPoint Remote { get; } = remote;

    public ILinkHandler Handler { get; } = handler;

    public LinkState State { get; internal set; } = LinkState.Handshake;

    /// <summary>Stopwatch timestamp after which the connection is judged (handshake deadline, then heartbeat timeout).</summary>
    public long Deadline { get; internal set; }

    /// <summary>Stopwatch timestamp of the next Beat to send.</summary>
    public long NextBeat { get; internal set; }

    public long IntervalTicks { get; internal set; }

    public long TimeoutTicks { get; internal set; }

    /// <summary>When the last frame arrived (or the link was established, before the first).</summary>
    public long LastReceivedAt { get; internal set; }

    /// <summary>Time this process was not running, excused since the last frame arrived (see <see cref="HeartbeatReactor"/>).</summary>
    public long ExcusedTicks { get; internal set; }

    /// <summary>The peer's <c>sent</c> of its last Beat, echoed in ours; and when it arrived.</summary>
    internal long PeerSentUs { get; set; }

    internal long PeerReceivedAt { get; set; }

    /// <summary>Round-trip time from the last beat that echoed one of ours (TimeSpan ticks; -1 before the first). Written on the reactor thread, read anywhere.</summary>
    private long _rttTicks = -1;

    /// <summary>Round-trip time measured from the last beat that echoed one of ours; null before the first. Any thread.</summary>
    public TimeSpan? LastRtt => Interlocked.Read(ref _rttTicks) is var ticks and >= 0 ? TimeSpan.FromTicks(ticks) : null;

    internal void SetRtt(TimeSpan rtt) => Interlocked.Exchange(ref _rttTicks, rtt.Ticks);

    /// <summary>Due time of this link's earliest queue entry (long.MaxValue: none); an entry that pops with another due time is dropped.</summary>
    internal long QueuedDue { get; set; } = long.MaxValue;

    internal byte[]? Partial { get; set; }

    internal int PartialLength { get; set; }

    /// <summary>Receive and RTT callbacks, set by the owner before the link is added (conmgr's metrics).</summary>
    public Action<TimeSpan>? RttMeasured { get; init; }
}
