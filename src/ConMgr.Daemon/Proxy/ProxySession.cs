// ProxySession.cs: relays one proxied session over two Streams (the relay TLS will use; plaintext goes through RelayReactor).
using System.Buffers;
using System.Net.Sockets;
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// The Stream relay: what SslStream can wrap (the TLS issue); plaintext sessions use
/// <see cref="RelayReactor"/>, which measured faster (docs/benchmarks.md, "Proxy"), unless
/// CONMGR_PROXY_RELAY=stream asks for this one (the benchmark's comparison).
/// Two pumps, client to server and server to client. Each waits for data with a zero-byte read,
/// so an idle session holds no buffer; a pooled buffer is rented when data arrives and given back
/// when a read does not fill it. Each pump writes everything it read before reading again: that is
/// the back-pressure (a slow reader stops the other side's reads, and TCP's window does the rest;
/// no queue anywhere). The server-to-client pump follows message boundaries with
/// <see cref="ServerMessageTracker"/> (which also swaps the cancel key), so that conmgr can put its own
/// ErrorResponse between two server messages when the instance is lost (<see cref="StopAtBoundaryAsync"/>).
/// Both ends are <see cref="Stream"/>s so that TLS (SslStream) can wrap them.
/// </summary>
public sealed class ProxySession : IRelay, IDisposable
{
    private const int BufferSize = 32 * 1024;

    private readonly ApplicationConnection _client;
    private readonly Socket _server;
    private readonly Stream _clientStream;
    private readonly Stream _serverStream;
    private readonly ServerFollower _follower;
    private Task<string> _serverToClient = Task.FromResult("not started");
    private volatile bool _atBoundary = true;
    private int _serverClosed;

    public ProxySession(ApplicationConnection client, Socket server, InstanceSettings instance, CancelKeys keys, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _server = server;
        _clientStream = new NetworkStream(client.Socket, ownsSocket: false);
        _serverStream = new NetworkStream(server, ownsSocket: false);
        _follower = new ServerFollower(keys, instance, client, log);
    }

    /// <summary>Why the session ended, for the log.</summary>
    public string? EndReason { get; private set; }

    /// <summary>Sends the client's startup message to the server, then relays until either side ends or conmgr stops the session.</summary>
    public async Task RunAsync(byte[] startupPacket)
    {
        ArgumentNullException.ThrowIfNull(startupPacket);
        try
        {
            _serverToClient = PumpAsync(_serverStream, _clientStream, fromServer: true);
            var clientToServer = PumpClientToServerAsync(startupPacket);
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
    /// Ends the server side at once (a pending read fails) and waits for the server-to-client pump
    /// to stop; if every byte it gave the client ended a whole message, sends <paramref name="errorResponse"/>.
    /// A write to the client still stuck after <see cref="ApplicationHandler.ErrorSendTimeout"/> means no error.
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
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
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

    private async Task<string> PumpClientToServerAsync(byte[] startupPacket)
    {
        try
        {
            await _serverStream.WriteAsync(startupPacket);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return $"server side ended: {ex.Message}";
        }

        return await PumpAsync(_clientStream, _serverStream, fromServer: false);
    }

    public void Dispose()
    {
        CloseServer();
        _clientStream.Dispose();
        _serverStream.Dispose();
    }

    private void CloseServer()
    {
        if (Interlocked.Exchange(ref _serverClosed, 1) != 0)
        {
            return;
        }

        try
        {
            _server.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        _server.Dispose();
    }
}
