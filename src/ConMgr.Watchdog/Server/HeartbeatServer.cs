// HeartbeatServer.cs: the watchdog's rules for conmgr connections: admission, Hello, registration, and what a lost link costs.
using ConMgr.Hosting.Posix;
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
/// conmgr's address unless another live conmgr shares it. The connections themselves run in the
/// <see cref="LinkReactor"/>; this class decides, the reactor does.
/// </summary>
public sealed class HeartbeatServer : IReactorPolicy, IDisposable
{
    /// <summary>
    /// Shortest heartbeat_interval and heartbeat_timeout a Hello may ask for: conmgr.conf's own
    /// minimum. Anything shorter is refused: a peer must not make the watchdog beat every
    /// microsecond or declare links dead before a packet can cross a network.
    /// </summary>
    public const int MinHeartbeatMs = 10;

    private readonly PeerRegistry _registry;
    private readonly AttributeChecker _checker;
    private readonly SessionTerminator _terminator;
    private readonly ServerLog _log;
    private readonly TimeProvider _time;
    private readonly LinkReactor _reactor;

    public HeartbeatServer(PeerRegistry registry, AttributeChecker checker, SessionTerminator terminator, TimeSpan helloTimeout, ServerLog log, TimeProvider time)
    {
        _registry = registry;
        _checker = checker;
        _terminator = terminator;
        _log = log;
        _time = time;
        _reactor = new LinkReactor(this, helloTimeout, time) { LogLine = log.Log };
    }

    /// <summary>
    /// Set when the watchdog itself stops: links then end because of us, not because a conmgr
    /// died, and its sessions are left alone (a watchdog restart must not cut every application).
    /// </summary>
    public bool ShuttingDown { get; set; }

    /// <summary>Admits an accepted connection and hands it to the reactor.</summary>
    public Task HandleAsync(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        using (socket)
        {
            var remote = socket.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.None, 0);
            if (!_registry.TryReserve())
            {
                _log.Log($"too many heartbeat connections (max_heartbeat_connections = {_registry.MaxConnections}): refusing conmgr {remote}");
                var refusal = HeartbeatCodec.ToArray(new RefusalFrame($"too many heartbeat connections (max_heartbeat_connections = {_registry.MaxConnections})"));
                socket.Blocking = false;
                socket.Send(refusal, SocketFlags.None, out _);
                return Task.CompletedTask;
            }

            // The reactor gets its own descriptor for the socket; this Socket never did an async
            // operation, so .NET never registered it with its own epoll, and closing it here
            // leaves the reactor's descriptor the only one.
            int fd;
            try
            {
                fd = Epoll.Duplicate(socket.Handle);
            }
            catch (IOException ex)
            {
                _registry.Release();
                _log.Error($"could not take over the connection from {remote}: {ex.Message}");
                return Task.CompletedTask;
            }

            _reactor.Add(fd, remote);
        }

        return Task.CompletedTask;
    }

    /// <summary>Sends the instance's new attributes to every conmgr at once.</summary>
    public void Broadcast(InstanceAttributes attributes) => _reactor.Broadcast(attributes);

    /// <summary>Closes every link (saying <paramref name="goodbye"/> first, when given) and waits until they are closed.</summary>
    public Task StopAsync(string? goodbye)
    {
        ShuttingDown = true;
        return _reactor.StopAsync(goodbye);
    }

    public void Dispose() => _reactor.Dispose();

    string? IReactorPolicy.Judge(HelloFrame hello) => hello switch
    {
        { MajorVersion: not HeartbeatCodec.MajorVersion } => $"unsupported protocol version {hello.MajorVersion}.{hello.MinorVersion}; this watchdog speaks {HeartbeatCodec.MajorVersion}.{HeartbeatCodec.MinorVersion}",
        { HeartbeatIntervalMs: < MinHeartbeatMs } or { HeartbeatTimeoutMs: < MinHeartbeatMs } => $"heartbeat_interval and heartbeat_timeout must be at least {MinHeartbeatMs} ms",
        _ => null,
    };

    InstanceAttributes IReactorPolicy.Established(ReactorPeer peer, HelloFrame hello)
    {
        var interval = TimeSpan.FromMilliseconds(hello.HeartbeatIntervalMs);
        var timeout = TimeSpan.FromMilliseconds(hello.HeartbeatTimeoutMs);
        var registered = new ConmgrPeer(peer.Remote, interval, timeout, _time.GetUtcNow(), hello.ConmgrId);
        peer.Registered = registered;
        _registry.Add(registered);
        _log.Log($"heartbeat from conmgr {registered.Describe()} established (interval {HeartbeatLink.Format(interval)}, timeout {HeartbeatLink.Format(timeout)})");
        return _checker.Current;
    }

    void IReactorPolicy.Closed(ReactorPeer peer, string? reason)
    {
        // Free the slot first: a peer that sees the close may count on it.
        _registry.Release();
        if (peer.Registered is not { } registered || reason is null)
        {
            return;
        }

        var removal = _registry.Remove(registered);
        _log.Log($"heartbeat from conmgr {registered.Describe()} lost: {reason}");
        if (ShuttingDown)
        {
            return;
        }

        // Only another conmgr's link spares the address: the same conmgr reconnecting (after a
        // freeze and thaw, its new link may be accepted before the old one's timeout is handled)
        // already told its clients that these sessions were lost.
        if (removal.OtherConmgrAlive)
        {
            _log.Log($"not terminating sessions from {registered.Address}: another conmgr heartbeat from that address is alive");
            return;
        }

        // Off the reactor thread: a termination is a SQL round trip.
        _ = Task.Run(async () =>
        {
            try
            {
                await _terminator.TerminateAsync(registered.Address, $"heartbeat of conmgr {registered.Describe()} lost ({reason})", _checker.BackendPid, removal.ReconnectedAt);
            }
            catch (Exception ex)
            {
                _log.Error($"BUG: terminating the sessions of {registered.Address}: {ex}");
            }
        });
    }
}
