// ILinkHandler.cs: what the owner of a link (the watchdog's handshake, conmgr's instance monitor) is told by the reactor.
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat.Reactor;

/// <summary>
/// Called on the reactor thread only, so it must be quick and must not block: a handler that has
/// slow work to do (a SQL round trip, a lock others hold long) hands it to another thread. The
/// reactor's beats and deadlines wait for it otherwise.
/// </summary>
public interface ILinkHandler
{
    /// <summary>A frame on a link still in <see cref="LinkState.Handshake"/>.</summary>
    void OnHandshakeFrame(ReactorLink link, HeartbeatFrame frame);

    /// <summary>The handshake deadline passed with the link still in its handshake; the handler closes it.</summary>
    void OnHandshakeExpired(ReactorLink link);

    /// <summary>A frame that breaks the protocol during the handshake; the handler refuses the link (or the reactor closes it).</summary>
    void OnHandshakeViolation(ReactorLink link, string violation);

    /// <summary>A frame other than Beat and Goodbye on an established link (conmgr: attributes).</summary>
    void OnFrame(ReactorLink link, HeartbeatFrame frame);

    /// <summary>The link's descriptor is closed; called once, with the verdict. <paramref name="wasUp"/>: it had been established.</summary>
    void OnClosed(ReactorLink link, LinkVerdict verdict, bool wasUp);
}
