// HeartbeatServer.cs: the watchdog's rules for conmgr connections: authentication, admission, registration, and what a lost link costs.
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Heartbeat.Reactor;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Posix;
using ConMgr.Hosting.Tls;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Watchdog.Attributes;
using ConMgr.Watchdog.Instance;
using ConMgr.Watchdog.Peers;
using ConMgr.Watchdog.Terminator;

namespace ConMgr.Watchdog.Server;

/// <summary>
/// The watchdog end of the heartbeat protocol (docs/protocol.md). A connection must finish its
/// handshake within <c>watchdog.hello_timeout</c>: the TLS handshake when it starts with one
/// (<c>watchdog.ssl</c>), the Hello, and the shared-secret challenge when authentication asks for
/// it. Only then is it admitted against <c>max_heartbeat_connections</c> and registered: a peer
/// that fails authentication never holds a slot, never shows in pgx_stat_watchdog, and its address
/// never reaches the terminator. Connections still in their handshake are bounded by
/// <see cref="MaxPendingConnections"/>. When a link ends, for whatever reason, the terminator kills
/// the sessions of that conmgr's address unless another live conmgr shares it. The connections
/// run in the shared heartbeat reactor (<see cref="PeerLinks"/>); this class decides, the reactor does.
/// </summary>
public sealed class HeartbeatServer : IReactorPolicy, IAsyncDisposable
{
    /// <summary>
    /// Shortest heartbeat_interval and heartbeat_timeout a Hello may ask for: conmgr.conf's own
    /// minimum. Anything shorter is refused: a peer must not make the watchdog beat every
    /// microsecond or declare links dead before a packet can cross a network.
    /// </summary>
    public const int MinHeartbeatMs = 10;

    /// <summary>
    /// Longest heartbeat_interval and heartbeat_timeout a Hello may ask for (1 h; conmgr refuses
    /// longer at load): a peer must not hold a slot for weeks by asking for a silence that long.
    /// </summary>
    public const int MaxHeartbeatMs = 3_600_000;

    /// <summary>Per-connection lines (established, lost, sessions spared) a window may hold in full; the rest are summed.</summary>
    public const int LinkLinesPerWindow = 20;

    /// <summary>
    /// Connections accepted but not yet admitted (TLS handshake, Hello, challenge), each for at most
    /// watchdog.hello_timeout: beyond this many, a new one is closed at once. It bounds what a flood
    /// of strangers can hold (a descriptor and a few hundred bytes each; a TLS handshake's buffers).
    /// </summary>
    public const int MaxPendingConnections = 1000;

    private readonly PeerRegistry _registry;
    private readonly AttributeChecker _checker;
    private readonly PendingTerminations _terminations;
    private readonly AddressShares _addresses;
    private readonly RateLimitedLog _linkLines;
    private readonly TimeProvider _time;
    private readonly TimeSpan _helloTimeout;
    private readonly PeerLinks _reactor;
    private readonly RefusalLog _refusals;
    private readonly HeartbeatSecurity _security;
    private readonly ServerTlsContext? _tls;
    private int _pending;

    /// <summary>Answers authentication lookups (preauth); set once at start, before the listener.</summary>
    public Auth.AuthLookupService? Lookups { get; set; }

    /// <exception cref="TlsFileException">The TLS or secret files cannot be used.</exception>
    /// <param name="maxConnectionsPerAddress">watchdog.max_connections_per_address (−1: no limit).</param>
    public HeartbeatServer(PeerRegistry registry, AttributeChecker checker, SessionTerminator terminator, TimeSpan helloTimeout, ServerLog log, TimeProvider time, HeartbeatSecurity? security = null, int maxConnectionsPerAddress = WatchdogSettings.DefaultMaxConnectionsPerAddress)
    {
        _registry = registry;
        _checker = checker;
        _terminations = new PendingTerminations(terminator, log, time);
        _addresses = new AddressShares(maxConnectionsPerAddress);
        _linkLines = new RateLimitedLog(log, time, LinkLinesPerWindow, RefusalLog.Window, "heartbeat link lines");
        terminator.Lines = _linkLines;
        _time = time;
        _helloTimeout = helloTimeout;
        _security = security ?? HeartbeatSecurity.None;
        Secret = _security.SecretFile is { } secretFile ? TlsFiles.LoadSecret(secretFile) : null;
        _tls = _security.Tls == HeartbeatTlsMode.Off
            ? null
            : ServerTlsContext.Load(new Configuration.ServerTlsSettings { Enabled = true, CertFile = _security.CertFile!, KeyFile = _security.KeyFile!, CaFile = _security.CaFile }, alpn: null, requireClientCertificate: _security.CaFile is not null);
        _refusals = new RefusalLog(log, time);
        _reactor = new PeerLinks(this, helloTimeout, time, log);
    }

    /// <summary>
    /// Set when the watchdog itself stops: links then end because of us, not because a conmgr
    /// died, and its sessions are left alone (a watchdog restart must not cut every application).
    /// </summary>
    public bool ShuttingDown { get; set; }

    /// <summary>The heartbeat reactor's thread scheduling, for the start-up log line.</summary>
    public string Scheduling => _reactor.Reactor.Scheduling;

    /// <summary>Connections refused before they became links, since start (the flood benchmark reads it).</summary>
    public long Refusals => _refusals.Total;

    /// <summary>What authentication asks of peers, for the start-up log line.</summary>
    public string DescribeSecurity() =>
        $"watchdog.ssl = {_security.Tls.ToString().ToLowerInvariant()}"
        + (_tls is null ? string.Empty : _security.CaFile is null ? ", no client certificates" : ", client certificates required")
        + (_security.ConmgrNames is { Count: > 0 } names ? $" (watchdog.conmgr_names: {string.Join(", ", names)})" : string.Empty)
        + (Secret is null ? string.Empty : $", shared secret ({_security.SecretFile})")
        + (_security.AuthenticationRequired ? string.Empty : "; peers are NOT authenticated")
        + (_addresses.Limit < 0 ? string.Empty : $"; at most {_addresses.Limit} connections per address");

    /// <summary>True when peers are not authenticated: the start-up WARNING says what that allows.</summary>
    public bool Unauthenticated => !_security.AuthenticationRequired;

    /// <inheritdoc/>
    public byte[]? Secret { get; }

    /// <summary>Takes an accepted connection through TLS when it starts with a handshake, then hands it to the reactor.</summary>
    public async Task HandleAsync(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var remote = socket.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.None, 0);
        if (!_addresses.TryEnter(remote.Address))
        {
            _refusals.Record(remote, "address", $"{_addresses.Limit} connections from {remote.Address} are already open (watchdog.max_connections_per_address)");
            socket.Dispose();
            return;
        }

        if (Interlocked.Increment(ref _pending) > MaxPendingConnections)
        {
            Interlocked.Decrement(ref _pending);
            _addresses.Leave(remote.Address);
            _refusals.Record(remote, "pending", $"{MaxPendingConnections} connections are already in their handshake");
            socket.Dispose();
            return;
        }

        var handedOver = false;
        try
        {
            handedOver = _tls is null ? HandOverPlaintext(socket, remote, duplicateOnly: true) : await HandleWithTlsAsync(socket, remote, _tls);
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            _refusals.Record(remote, "hello", $"connection error: {ex.Message}");
        }
        finally
        {
            if (!handedOver)
            {
                Interlocked.Decrement(ref _pending);
                _addresses.Leave(remote.Address);
                socket.Dispose();
            }
        }
    }

    /// <summary>Sends the instance's new attributes to every conmgr at once.</summary>
    public void Broadcast(InstanceAttributes attributes) => _reactor.Broadcast(attributes);

    /// <summary>Closes every link (saying <paramref name="goodbye"/> first, when given) and waits until they are closed.</summary>
    public Task StopAsync(string? goodbye)
    {
        ShuttingDown = true;
        return _reactor.StopAsync(goodbye);
    }

    /// <summary>Stops the reactor, then waits for a termination in progress (no thread blocked meanwhile).</summary>
    public async ValueTask DisposeAsync()
    {
        _reactor.Dispose();
        await _terminations.DisposeAsync();
        _refusals.Dispose();
        _linkLines.Dispose();
    }

    /// <summary>With watchdog.ssl on or require: the first byte tells a TLS handshake from a Hello.</summary>
    private async Task<bool> HandleWithTlsAsync(Socket socket, IPEndPoint remote, ServerTlsContext tls)
    {
        using var deadline = new CancellationTokenSource(_helloTimeout, _time);
        bool? startsWithTls;
        try
        {
            startsWithTls = await ServerTlsContext.StartsWithHandshakeAsync(socket, deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _refusals.Record(remote, "hello", $"no hello within {Durations.Format(_helloTimeout)}");
            return false;
        }

        if (startsWithTls is null)
        {
            _refusals.Record(remote, "hello", "connection closed before the handshake");
            return false;
        }

        if (startsWithTls == false)
        {
            if (_security.Tls == HeartbeatTlsMode.Require)
            {
                Refuse(socket, remote, "plaintext", "this watchdog accepts TLS connections only (watchdog.ssl = require)");
                return false;
            }

            return HandOverPlaintext(socket, remote, duplicateOnly: false);
        }

        var (ssl, error) = await tls.AcceptAsync(socket, deadline.Token);
        if (ssl is null)
        {
            _refusals.Record(remote, "tls", $"TLS handshake failed: {error}");
            return false;
        }

        // A certificate the CA vouched for authenticates the peer; without one it must prove the secret, if there is one.
        var byCertificate = tls.RequireClientCertificate && ssl.RemoteCertificate is not null;
        if (byCertificate && _security.ConmgrNames is { Count: > 0 } names && !ConmgrNames.Accepts(ssl.RemoteCertificate!, names, out var subject))
        {
            await ssl.DisposeAsync();
            _refusals.Record(remote, "tls", $"certificate \"{subject}\" is not one of watchdog.conmgr_names");
            return false;
        }

        var fd = TlsTunnel.Open(ssl, socket);
        _reactor.Add(fd, remote, mustProveSecret: !byCertificate && Secret is not null, byCertificate);
        return true;
    }

    /// <summary>A plaintext peer goes to the reactor, unless authentication needs a certificate it cannot have.</summary>
    private bool HandOverPlaintext(Socket socket, IPEndPoint remote, bool duplicateOnly)
    {
        if (_security.AuthenticationRequired && Secret is null)
        {
            Refuse(socket, remote, "plaintext", "this watchdog requires a client certificate: connect with TLS (heartbeat_sslrootcert, heartbeat_sslcert)");
            return false;
        }

        // A socket that never did an async operation was never registered with .NET's epoll: a
        // duplicate is enough. One that waited for its first byte was: take it out first.
        var fd = duplicateOnly ? Epoll.Duplicate(socket.Handle) : RuntimeEpoll.Adopt(socket);

        // Closed without a shutdown: the reactor's duplicate is now the connection's only descriptor.
        socket.Dispose();
        _reactor.Add(fd, remote, mustProveSecret: Secret is not null);
        return true;
    }

    private void Refuse(Socket socket, IPEndPoint remote, string kind, string reason)
    {
        socket.Blocking = false;
        socket.Send(HeartbeatCodec.ToArray(new RefusalFrame(reason)), SocketFlags.None, out _);
        _refusals.Record(remote, kind, reason);
    }

    string? IReactorPolicy.Judge(HelloFrame hello) => hello switch
    {
        { MajorVersion: not HeartbeatCodec.MajorVersion } => $"unsupported protocol version {hello.MajorVersion}.{hello.MinorVersion}; this watchdog speaks {HeartbeatCodec.MajorVersion}.{HeartbeatCodec.MinorVersion}",
        { HeartbeatIntervalMs: < MinHeartbeatMs or > MaxHeartbeatMs } or { HeartbeatTimeoutMs: < MinHeartbeatMs or > MaxHeartbeatMs } => $"heartbeat_interval and heartbeat_timeout must be between {MinHeartbeatMs} ms and {MaxHeartbeatMs / 60_000} min (asked: {hello.HeartbeatIntervalMs} ms and {hello.HeartbeatTimeoutMs} ms)",
        _ => null,
    };

    string? IReactorPolicy.Admit(ReactorPeer peer)
    {
        LeavePending(peer);
        if (!_registry.TryReserve())
        {
            return $"too many heartbeat connections (max_heartbeat_connections = {_registry.MaxConnections})";
        }

        peer.HoldsSlot = true;
        return null;
    }

    void IReactorPolicy.Refused(ReactorPeer peer, string kind, string reason) => _refusals.Record(peer.Remote, kind, reason);

    InstanceAttributes IReactorPolicy.Established(ReactorPeer peer, HelloFrame hello)
    {
        var interval = TimeSpan.FromMilliseconds(hello.HeartbeatIntervalMs);
        var timeout = TimeSpan.FromMilliseconds(hello.HeartbeatTimeoutMs);
        var registered = new ConmgrPeer(peer.Remote, interval, timeout, _time.GetUtcNow(), hello.ConmgrId);
        peer.Registered = registered;
        _registry.Add(registered);
        _linkLines.Log($"heartbeat from conmgr {registered.Describe()} established (interval {Durations.Format(interval)}, timeout {Durations.Format(timeout)})");
        return _checker.Current;
    }

    void IReactorPolicy.Lookup(ReactorPeer peer, AuthLookupFrame request)
    {
        var who = peer.Registered?.Describe() ?? peer.Remote.ToString();
        if (!peer.ByCertificate || Lookups is not { } lookups)
        {
            // An HMAC-only or plaintext link is not encrypted and frames on it can be forged: no secret crosses it.
            var refusal = Lookups?.RefuseOnLink(request, who) ?? new AuthLookupAnswerFrame(request.RequestId, AuthLookupStatus.RefusedLink, false, false, 0, string.Empty);
            _reactor.SendLater(peer, refusal);
            return;
        }

        lookups.Enqueue(request, answer => _reactor.SendLater(peer, answer));
    }

    void IReactorPolicy.Closed(ReactorPeer peer, LinkVerdict? verdict)
    {
        LeavePending(peer);

        // Every peer the reactor holds came through HandleAsync, which took its address's share.
        _addresses.Leave(peer.Remote.Address);

        // Free the slot first: a peer that sees the close may count on it.
        if (peer.HoldsSlot)
        {
            peer.HoldsSlot = false;
            _registry.Release();
        }

        if (peer.Registered is not { } registered || verdict is null)
        {
            return;
        }

        var reason = verdict.Reason;
        var removal = _registry.Remove(registered);
        _linkLines.Log($"heartbeat from conmgr {registered.Describe()} lost: {reason} ({verdict.Evidence})");
        if (ShuttingDown)
        {
            return;
        }

        // Only another conmgr's link spares the address: the same conmgr reconnecting (after a
        // freeze and thaw, its new link may be accepted before the old one's timeout is handled)
        // already told its clients that these sessions were lost.
        if (removal.OtherConmgrAlive)
        {
            _linkLines.Log($"not terminating sessions from {registered.Address}: another conmgr heartbeat from that address is alive");
            return;
        }

        // Off the reactor thread (a termination is a SQL round trip), merged with any waiting for this address.
        _terminations.Enqueue(registered.Address, $"heartbeat of conmgr {registered.Describe()} lost ({reason})", _checker.BackendPid, removal.ReconnectedAt);
    }

    private void LeavePending(ReactorPeer peer)
    {
        if (peer.Pending)
        {
            peer.Pending = false;
            Interlocked.Decrement(ref _pending);
        }
    }
}
