// ApplicationConnection.cs: one application's connection to conmgr's port, and the only way errors reach it.
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Clients;

/// <summary>A relay that conmgr can stop between two server messages (a proxied session).</summary>
public interface IRelay
{
    /// <summary>
    /// Cuts the server side, then sends <paramref name="errorResponse"/> (an encoded ErrorResponse) to the
    /// client if it is between two server messages, then closes the client side. True when the
    /// error was handed to the client's socket.
    /// </summary>
    Task<bool> StopAtBoundaryAsync(byte[]? errorResponse);
}

/// <summary>A relay whose client can move to another instance between transactions (pool_failover = reroute).</summary>
public interface IReroutable
{
    /// <summary>True when the client holds no server state now and its next transaction will be routed again; false when it must be ended.</summary>
    bool TryReroute();
}

/// <summary>
/// An accepted application socket. Every error sent to an application goes through
/// <see cref="CloseWithErrorAsync"/>, so each is sent once, then the socket is closed.
/// </summary>
public sealed class ApplicationConnection : IDisposable
{
    private static long s_nextId;
    private readonly TaskCompletionSource _whenClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _closed;
    private int _closing;
    private IRelay? _relay;
    private Socket? _socket;
    private SslStream? _tls;

    public ApplicationConnection(Socket socket, DateTimeOffset connectedAt)
    {
        _socket = socket ?? throw new ArgumentNullException(nameof(socket));
        Id = Interlocked.Increment(ref s_nextId);
        ConnectedAt = connectedAt;
        Remote = socket.RemoteEndPoint as IPEndPoint;
        IsLocal = socket.AddressFamily == AddressFamily.Unix;
    }

    public long Id { get; }

    /// <summary>The accepted socket, until <see cref="HandOffSocket"/> gives its descriptor to a relay reactor.</summary>
    public Socket Socket => Volatile.Read(ref _socket) ?? throw new ObjectDisposedException(nameof(ApplicationConnection), "the socket was handed to a relay reactor");

    public IPEndPoint? Remote { get; }

    /// <summary>True for a connection on a Unix socket (unix_socket_directories): no address, shown as [local] as PostgreSQL shows it.</summary>
    public bool IsLocal { get; }

    /// <summary>The TLS layer once the client negotiated TLS with conmgr; every byte to and from the client then goes through it.</summary>
    public SslStream? Tls => Volatile.Read(ref _tls);

    /// <summary>Takes the TLS layer negotiated over <see cref="Socket"/>; it is disposed with the connection.</summary>
    public void UseTls(SslStream tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        Volatile.Write(ref _tls, tls);
    }

    /// <summary>A stream of the client's bytes: the TLS layer, or a new view of the socket that does not own it.</summary>
    public Stream OpenStream() => Tls is { } tls ? tls : new NetworkStream(Socket, ownsSocket: false);

    public DateTimeOffset ConnectedAt { get; }

    public ApplicationState State { get; set; } = ApplicationState.AwaitingStartup;

    /// <summary>Target session attributes requested by the client (set by the resolve protocol).</summary>
    public string? Target { get; set; }

    /// <summary>The instance this client was sent to, as host:port.</summary>
    public string? Instance { get; set; }

    /// <summary>Index in the instance table of the instance this client was sent to; −1 before.</summary>
    public int InstanceIndex { get; set; } = -1;

    /// <summary>The instance row's <see cref="Instances.InstanceState.Version"/> when this client was sent to it: older snapshots say nothing about it.</summary>
    public long InstanceVersion { get; set; }

    /// <summary>The parsed target, for re-checking when the instance's role changes.</summary>
    public Protocol.Postgres.TargetSessionAttrs TargetAttrs { get; set; }

    /// <summary>The proxy port this client came in on (<c>read-write</c>, <c>read-only</c>); null on the resolve port.</summary>
    public string? Port { get; set; }

    /// <summary>The relay of a proxied session, once it runs: errors then go between two server messages.</summary>
    public IRelay? Relay
    {
        get => Volatile.Read(ref _relay);
        set => Volatile.Write(ref _relay, value);
    }

    /// <summary>True once conmgr has started closing this connection with an error.</summary>
    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    /// <summary>Completes when the socket is closed.</summary>
    public Task WhenClosed => _whenClosed.Task;

    public string Describe() => Remote is not null ? $"{Remote.Address}:{Remote.Port}" : IsLocal ? "[local]" : "unknown";

    /// <summary>Sends <paramref name="error"/> (best effort, bounded by <paramref name="timeout"/>) and closes.</summary>
    public async Task CloseWithErrorAsync(ErrorResponse error, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (Interlocked.Exchange(ref _closing, 1) != 0 || Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        State = ApplicationState.Rejecting;
        Diagnostics.ConMgrMetrics.RecordClosedWithError(Port ?? "resolve", error.SqlState);

        // A proxied session: the relay owns the sockets; the error goes only between two messages, or not at all.
        if (Relay is { } relay)
        {
            await relay.StopAtBoundaryAsync(error.ToArray());
        }
        else
        {
            using var cts = new CancellationTokenSource(timeout);
            await TrySendAsync(error.ToArray(), cts.Token);
        }

        Dispose();
    }

    /// <summary>
    /// Sends <paramref name="bytes"/>; false when the peer vanished, stopped reading until
    /// <paramref name="cancellationToken"/> fired, or the socket was closed (every send to an
    /// application goes through here: none of those is an error worth more than closing).
    /// </summary>
    public async Task<bool> TrySendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            if (Tls is { } tls)
            {
                await tls.WriteAsync(bytes, cancellationToken);
            }
            else
            {
                await Socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            }

            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Gives the connection's descriptor to a relay reactor: a duplicate of it, out of .NET's epoll
    /// set (or every packet would wake the runtime's thread as well as the reactor's); the .NET
    /// socket is closed without a shutdown (the duplicate keeps the connection) and dropped, so an
    /// idle proxied session holds none of its state. From here on the relay owns the connection
    /// and <see cref="Dispose"/> only marks it closed.
    /// </summary>
    public int HandOffSocket()
    {
        var socket = Socket;
        var fd = Hosting.Posix.RuntimeEpoll.Adopt(socket);
        Volatile.Write(ref _socket, null);
        socket.Dispose();
        return fd;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        State = ApplicationState.Closed;
        if (Volatile.Read(ref _socket) is { } socket)
        {
            try
            {
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }

            socket.Dispose();
        }

        Volatile.Read(ref _tls)?.Dispose();
        _whenClosed.TrySetResult();
    }
}
