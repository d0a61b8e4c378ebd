// HeartbeatServer.cs: accepts conmgr connections, runs the handshake, and runs each link until it ends.
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Watchdog.Attributes;
using ConMgr.Watchdog.Peers;
using ConMgr.Watchdog.Terminator;

namespace ConMgr.Watchdog.Server;

/// <summary>
/// The watchdog end of the heartbeat protocol (docs/protocol.md). A connection must send a valid
/// Hello within <c>watchdog.hello_timeout</c>; beyond <c>max_heartbeat_connections</c> it gets a
/// Refusal. When a link ends, for whatever reason, the terminator kills the sessions of that
/// conmgr's address unless another live conmgr shares it.
/// </summary>
public sealed class HeartbeatServer(
    PeerRegistry registry,
    AttributeChecker checker,
    SessionTerminator terminator,
    TimeSpan helloTimeout,
    ServerLog log,
    TimeProvider time)
{
    /// <summary>
    /// Set when the watchdog itself stops: links then end because of us, not because a conmgr
    /// died, and its sessions are left alone (a watchdog restart must not cut every application).
    /// </summary>
    public bool ShuttingDown { get; set; }

    /// <summary>
    /// Shortest heartbeat_interval and heartbeat_timeout a Hello may ask for: conmgr.conf's own
    /// minimum. Anything shorter is refused: a peer must not make the watchdog beat every
    /// microsecond or declare links dead before a packet can cross a network.
    /// </summary>
    public const int MinHeartbeatMs = 10;

    public async Task HandleAsync(Socket socket)
    {
        var channel = new HeartbeatChannel(socket);
        var remote = channel.Remote ?? new IPEndPoint(IPAddress.None, 0);
        if (!registry.TryReserve())
        {
            log.Log($"too many heartbeat connections (max_heartbeat_connections = {registry.MaxConnections}): refusing conmgr {remote}");
            channel.TrySend(new RefusalFrame($"too many heartbeat connections (max_heartbeat_connections = {registry.MaxConnections})"));
            channel.Dispose();
            return;
        }

        var reserved = true;
        try
        {
            var (hello, pending) = await ReadHelloAsync(channel, remote);
            if (hello is null)
            {
                // Free the slot before the close: a peer that sees the close may count on it.
                registry.Release();
                reserved = false;
                channel.Dispose();
                return;
            }

            await RunLinkAsync(channel, remote, hello, pending);
        }
        finally
        {
            if (reserved)
            {
                registry.Release();
            }
        }
    }

    private async Task<(HelloFrame? Hello, List<HeartbeatFrame> Pending)> ReadHelloAsync(HeartbeatChannel channel, IPEndPoint remote)
    {
        var frames = new List<HeartbeatFrame>();
        using var deadline = new CancellationTokenSource(helloTimeout, time);
        try
        {
            while (frames.Count == 0)
            {
                if (!await channel.ReceiveAsync(frames.Add, deadline.Token))
                {
                    log.Debug($"connection from {remote} closed before its hello");
                    return (null, frames);
                }
            }
        }
        catch (OperationCanceledException)
        {
            log.Log($"no hello from {remote} within {HeartbeatLink.Format(helloTimeout)}: closing");
            return (null, frames);
        }
        catch (Exception ex) when (ex is HeartbeatProtocolException or SocketException)
        {
            log.Log($"invalid hello from {remote}: {ex.Message}");
            channel.TrySend(new RefusalFrame($"protocol violation: {ex.Message}"));
            return (null, frames);
        }

        var refusal = frames[0] switch
        {
            HelloFrame { MajorVersion: not HeartbeatCodec.MajorVersion } h => $"unsupported protocol version {h.MajorVersion}.{h.MinorVersion}; this watchdog speaks {HeartbeatCodec.MajorVersion}.{HeartbeatCodec.MinorVersion}",
            HelloFrame { HeartbeatIntervalMs: < MinHeartbeatMs } or HelloFrame { HeartbeatTimeoutMs: < MinHeartbeatMs } => $"heartbeat_interval and heartbeat_timeout must be at least {MinHeartbeatMs} ms",
            HelloFrame => null,
            var other => $"protocol violation: expected a hello frame, got {other.Type}",
        };
        if (refusal is not null)
        {
            log.Log($"refusing conmgr {remote}: {refusal}");
            channel.TrySend(new RefusalFrame(refusal));
            return (null, frames);
        }

        return ((HelloFrame)frames[0], frames.Skip(1).ToList());
    }

    private async Task RunLinkAsync(HeartbeatChannel channel, IPEndPoint remote, HelloFrame hello, List<HeartbeatFrame> pending)
    {
        var link = new HeartbeatLink(channel, TimeSpan.FromMilliseconds(hello.HeartbeatIntervalMs), TimeSpan.FromMilliseconds(hello.HeartbeatTimeoutMs), time);
        var peer = new ConmgrPeer(remote, link, hello.ConmgrId);
        var reason = "link ended by an internal error";
        try
        {
            using (link)
            {
                link.Send(new WelcomeFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion));
                registry.Add(peer);
                link.Send(new AttributesFrame(checker.Current));
                log.Log($"heartbeat from conmgr {peer.Describe()} established (interval {HeartbeatLink.Format(link.Interval)}, timeout {HeartbeatLink.Format(link.Timeout)})");
                reason = await link.RunAsync(frame => log.Debug($"ignoring unexpected {frame.Type} frame from conmgr {peer.Describe()}"), pending);
            }
        }
        catch (Exception ex)
        {
            // Whatever went wrong, the peer must leave the registry and its host's sessions be dealt with below.
            log.Error($"heartbeat from conmgr {peer.Describe()}: unexpected error: {ex}");
        }

        var removal = registry.Remove(peer);
        log.Log($"heartbeat from conmgr {peer.Describe()} lost: {reason}");
        if (ShuttingDown)
        {
            return;
        }

        // Only another conmgr's link spares the address: the same conmgr reconnecting (after a
        // freeze and thaw, its new link may be accepted before the old one's timeout is handled)
        // already told its clients that these sessions were lost.
        if (removal.OtherConmgrAlive)
        {
            log.Log($"not terminating sessions from {peer.Address}: another conmgr heartbeat from that address is alive");
            return;
        }

        await terminator.TerminateAsync(peer.Address, $"heartbeat of conmgr {peer.Describe()} lost ({reason})", checker.BackendPid, removal.ReconnectedAt);
    }
}
