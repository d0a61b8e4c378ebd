// ReactorPeer.cs: one conmgr connection at the watchdog: the shared reactor's link plus the handshake and admission the watchdog adds.
using System.Net;
using ConMgr.Heartbeat.Reactor;
using ConMgr.Watchdog.Peers;

namespace ConMgr.Watchdog.Server;

/// <summary>Where a connection is in the watchdog's handshake, while its link is in <see cref="LinkState.Handshake"/>.</summary>
internal enum HandshakeStep
{
    /// <summary>Accepted; must send a valid Hello before its hello deadline.</summary>
    AwaitingHello,

    /// <summary>Hello accepted, Challenge sent (shared secret): must send its Proof before the same deadline.</summary>
    Challenged,

    /// <summary>Admitted: the link is up (or closed).</summary>
    Done,
}

/// <summary>Touched only on the reactor thread.</summary>
internal sealed class ReactorPeer(int fd, IPEndPoint remote, bool mustProveSecret, ILinkHandler handler, bool byCertificate = false) : ReactorLink(fd, remote, handler)
{
    /// <summary>TLS verified a client certificate for this peer: only then are authentication lookups answered on its link.</summary>
    public bool ByCertificate { get; } = byCertificate;

    /// <summary>The peer is not authenticated by a certificate and the watchdog has a secret: it must prove it.</summary>
    public bool MustProveSecret { get; } = mustProveSecret;

    public HandshakeStep Step { get; set; } = HandshakeStep.AwaitingHello;

    /// <summary>The Hello, kept while the peer answers the challenge.</summary>
    public Protocol.Heartbeat.HelloFrame? Hello { get; set; }

    /// <summary>The nonce of the challenge sent.</summary>
    public byte[]? Challenge { get; set; }

    /// <summary>Why the connection was refused before it became a link (kind, reason), reported when it closes.</summary>
    public (string Kind, string Reason)? Refusal { get; set; }

    /// <summary>True until the peer is admitted or closed: it counts among the connections awaiting authentication.</summary>
    public bool Pending { get; set; } = true;

    /// <summary>True once the peer holds one of max_heartbeat_connections' slots.</summary>
    public bool HoldsSlot { get; set; }

    /// <summary>The registry's view of this conmgr, once its Hello was accepted.</summary>
    public ConmgrPeer? Registered { get; set; }
}
