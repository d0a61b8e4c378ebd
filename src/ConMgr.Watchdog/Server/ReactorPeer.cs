// ReactorPeer.cs: one heartbeat connection in the watchdog's link reactor: its descriptor, state and timers as plain fields.
using System.Net;
using ConMgr.Watchdog.Peers;

namespace ConMgr.Watchdog.Server;

/// <summary>Where a connection is in its life (PgBouncer's one explicit state per connection).</summary>
internal enum ReactorPeerState
{
    /// <summary>Accepted; must send a valid Hello before its hello deadline.</summary>
    AwaitingHello,

    /// <summary>Hello accepted, Challenge sent (shared secret): must send its Proof before the same deadline.</summary>
    Challenged,

    /// <summary>Hello accepted: beats both ways, dies after heartbeat_timeout of silence.</summary>
    Up,

    /// <summary>Descriptor closed; any queued timer entry for it is ignored.</summary>
    Closed,
}

/// <summary>
/// Everything the reactor keeps per connection: a few longs and references, no buffer while
/// idle (a partial frame keeps at most one frame's bytes until it completes), no timer object
/// (one priority queue of due times serves all), no task. Touched only on the reactor thread.
/// </summary>
internal sealed class ReactorPeer(int fd, IPEndPoint remote, bool mustProveSecret)
{
    public int Fd { get; } = fd;

    public IPEndPoint Remote { get; } = remote;

    /// <summary>The peer is not authenticated by a certificate and the watchdog has a secret: it must prove it.</summary>
    public bool MustProveSecret { get; } = mustProveSecret;

    /// <summary>The Hello, kept while the peer answers the challenge.</summary>
    public Protocol.Heartbeat.HelloFrame? Hello { get; set; }

    /// <summary>The nonce of the challenge sent.</summary>
    public byte[]? Challenge { get; set; }

    /// <summary>True until the peer is admitted or closed: it counts among the connections awaiting authentication.</summary>
    public bool Pending { get; set; } = true;

    /// <summary>True once the peer holds one of max_heartbeat_connections' slots.</summary>
    public bool HoldsSlot { get; set; }

    public ReactorPeerState State { get; set; } = ReactorPeerState.AwaitingHello;

    /// <summary>Stopwatch timestamp after which the connection is dead (hello timeout, then heartbeat timeout).</summary>
    public long Deadline { get; set; }

    /// <summary>Stopwatch timestamp of the next Beat to send.</summary>
    public long NextBeat { get; set; }

    public long IntervalTicks { get; set; }

    public long TimeoutTicks { get; set; }

    /// <summary>The peer's <c>sent</c> of its last Beat, echoed in ours; and when it arrived.</summary>
    public long PeerSentUs { get; set; }

    public long PeerReceivedAt { get; set; }

    /// <summary>
    /// Due time of this peer's earliest entry in the reactor's queue (long.MaxValue: none). An entry
    /// that pops with another due time was superseded by an earlier one and is dropped.
    /// </summary>
    public long QueuedDue { get; set; } = long.MaxValue;

    public byte[]? Partial { get; set; }

    public int PartialLength { get; set; }

    /// <summary>The registry's view of this conmgr, once its Hello was accepted.</summary>
    public ConmgrPeer? Registered { get; set; }
}
