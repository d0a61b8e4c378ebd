// LinkState.cs: where one heartbeat connection is in its life, and how an established link ended.
namespace ConMgr.Heartbeat.Reactor;

/// <summary>One explicit state per connection (PgBouncer's habit).</summary>
public enum LinkState
{
    /// <summary>Connected; its handshake (Hello, challenge) is the handler's business, bounded by the handshake deadline.</summary>
    Handshake,

    /// <summary>Established: beats both ways, judged after heartbeat_timeout of silence.</summary>
    Up,

    /// <summary>Descriptor closed; any queued due-time entry for it is ignored.</summary>
    Closed,
}

/// <summary>How a link ended: what conmgr needs to tell a watchdog restart from a lost instance.</summary>
public enum LinkEnd
{
    /// <summary>Ended from this side (shutdown, a handshake refused, the handler's decision).</summary>
    Local,

    /// <summary>The peer said Goodbye: it ended the link, with its reason.</summary>
    Goodbye,

    /// <summary>The connection closed or was reset without a Goodbye: the peer's process is gone, its host's kernel answered.</summary>
    Closed,

    /// <summary>Nothing arrived for the heartbeat timeout, counted in time this process was running to see it.</summary>
    Timeout,

    /// <summary>A frame that breaks the protocol, or a send that could not complete.</summary>
    Failed,
}
