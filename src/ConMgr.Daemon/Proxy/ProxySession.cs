// ProxySession.cs: relays one proxied session over two Streams: TLS on either side, or a first server message already read; plaintext goes through RelayReactor.
using System.Buffers;
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// The Stream relay: sessions with TLS on either side (SslStream), sessions whose server connection
/// needed its first message read (backend_sslmode's retries), and every session when
/// CONMGR_PROXY_RELAY=stream asks for it (the benchmark's comparison). Plaintext sessions use
/// <see cref="RelayReactor"/>, which measured faster (docs/benchmarks.md, "Proxy").
/// <para>
/// The session opens with the server's first message, when one was read, and with the
/// <see cref="ChannelBindingGuard"/> when the client's TLS ends here and the server's TLS presents
/// another certificate. Then two pumps, client to server and server to client. Each waits for
/// data with a zero-byte read, so an idle session holds no buffer; a pooled buffer is rented when
/// data arrives and given back when a read does not fill it. Each pump writes everything it read
/// before reading again: that is the back-pressure (a slow reader stops the other side's reads,
/// and TCP's window does the rest; no queue anywhere). The server-to-client pump follows message
/// boundaries with <see cref="ServerMessageTracker"/> (which also swaps the cancel key), so that
/// conmgr can put its own ErrorResponse between two server messages when the instance is lost
/// (<see cref="StopAtBoundaryAsync"/>).
/// </para>
/// </summary>
public sealed class ProxySession : IRelay, IDisposable
{
    private const int BufferSize = 32 * 1024;

    private readonly ApplicationConnection _client;
    private readonly BackendConnection _server;
    private readonly InstanceSettings _instance;
    private readonly Stream _clientStream;
    private readonly ServerFollower _follower;
    private readonly ServerLog _log;
    private readonly bool _guardChannelBinding;
    private Task<string> _serverToClient = Task.FromResult("not started");
    private volatile bool _atBoundary = true;
    private int _serverClosed;

    /// <param name="guardChannelBinding">True when the client's TLS ends at conmgr and the server's TLS presents another certificate (<see cref="ChannelBindingGuard"/>).</param>
    public ProxySession(ApplicationConnection client, BackendConnection server, InstanceSettings instance, CancelKeys keys, ServerLog log, bool guardChannelBinding)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _server = server;
        _instance = instance;
        _log = log;
        _guardChannelBinding = guardChannelBinding;
        _clientStream = client.OpenStream();
        _follower = new ServerFollower(keys, instance, client, log);
    }

    /// <summary>Why the session ended, for the log.</summary>
    public string? EndReason { get; private set; }

    /// <summary>Relays (the startup message was sent when the server connection was opened) until either side ends or conmgr stops the session.</summary>
    public async Task RunAsync()
    {
        try
        {
            var opening = OpenAsync();
            _serverToClient = ThenPumpAsync(opening, _server.Stream, _clientStream, fromServer: true);
            var clientToServer = ThenPumpAsync(opening, _clientStream, _server.Stream, fromServer: false);
            var first = await Task.WhenAny(clientToServer, _serverToClient);
            EndReason ??= await first;
            if (_client.IsClosing)
            {
                // conmgr is ending it (loss, role change, shutdown): the close path owns the client socket now.
                await _client.WhenClosed;
            }
            else if (first == clientToServer)
            {
                CloseServer();
                await _serverToClient;
                _client.Dispose();
            }
            else
            {
                // Everything the server sent was written before its pump ended: now the client may go.
                _client.Dispose();
                CloseServer();
            }

            await Task.WhenAll(clientToServer, _serverToClient);
        }
        finally
        {
            CloseServer();
            _follower.Release();
        }
    }

    /// <summary>
    /// Ends the server side at once (a pending read fails) and waits for the server-to-client side
    /// (opening included) to stop; if every byte it gave the client ended a whole message, sends
    /// <paramref name="errorResponse"/>. A write to the client still stuck after
    /// <see cref="ApplicationHandler.ErrorSendTimeout"/> means no error.
    /// </summary>
    public async Task<bool> StopAtBoundaryAsync(byte[]? errorResponse)
    {
        CloseServer();
        var pump = _serverToClient;
        var stopped = await Task.WhenAny(pump, Task.Delay(ApplicationHandler.ErrorSendTimeout)) == pump;
        if (!stopped || !_atBoundary || errorResponse is null)
        {
            return false;
        }

        using var cts = new CancellationTokenSource(ApplicationHandler.ErrorSendTimeout);
        return await _client.TrySendAsync(errorResponse, cts.Token);
    }

    /// <summary>The server's first message (already read) to the client, then the guarded authentication when needed; null to go on relaying, or why the session ends.</summary>
    private async Task<string?> OpenAsync()
    {
        try
        {
            if (_server.Prelude is { } prelude && !await ToClientAsync(prelude))
            {
                return "the server's first message was not PostgreSQL's protocol";
            }

            if (!_guardChannelBinding)
            {
                return null;
            }

            var guard = new ChannelBindingGuard(_clientStream, _server.Stream, ToClientAsync, _log, _client, _instance);
            return await guard.RunAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            return $"session ended while opening: {ex.Message}";
        }
    }

    /// <summary>A whole server message to the client, followed like every other server byte; false when it is not PostgreSQL's protocol.</summary>
    private async Task<bool> ToClientAsync(byte[] message)
    {
        _atBoundary = false;
        if (!_follower.Follow(message, out _))
        {
            return false;
        }

        _follower.Relayed(fromServer: true, message.Length);
        await _clientStream.WriteAsync(message);
        _atBoundary = _follower.Tracker.AtBoundary;
        return true;
    }

    private async Task<string> ThenPumpAsync(Task<string?> opening, Stream from, Stream to, bool fromServer) =>
        await opening ?? await PumpAsync(from, to, fromServer);

    /// <summary>
    /// One direction. The server's bytes are followed for message boundaries (and the cancel key)
    /// before they are written; the client's are passed as they are.
    /// </summary>
    private async Task<string> PumpAsync(Stream from, Stream to, bool fromServer)
    {
        var side = fromServer ? "server" : "client";
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                if (buffer is null)
                {
                    _ = await from.ReadAsync(Memory<byte>.Empty);
                    buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                }

                var read = await from.ReadAsync(buffer);
                if (read == 0)
                {
                    return $"the {side} closed the connection";
                }

                _follower.Relayed(fromServer, read);

                if (fromServer)
                {
                    _atBoundary = false;
                    if (!_follower.Follow(buffer.AsSpan(0, read), out var error))
                    {
                        return error!;
                    }
                }

                await to.WriteAsync(buffer.AsMemory(0, read));
                if (fromServer)
                {
                    _atBoundary = _follower.Tracker.AtBoundary;
                }

                if (read < buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            return $"{side} side ended: {ex.Message}";
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    public void Dispose()
    {
        CloseServer();
        if (_client.Tls is null)
        {
            _clientStream.Dispose();
        }
    }

    private void CloseServer()
    {
        if (Interlocked.Exchange(ref _serverClosed, 1) != 0)
        {
            return;
        }

        try
        {
            _server.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }

        _server.Dispose();
    }
}
