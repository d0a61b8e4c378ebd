// PgWire.cs: a deliberately raw PostgreSQL-protocol client, for poking ports with exact bytes.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ConMgr.Testing;

/// <summary>A backend message as read off the wire.</summary>
public sealed record WireMessage(char Type, byte[] Body)
{
    /// <summary>The fields of an ErrorResponse/NoticeResponse, by field code.</summary>
    public IReadOnlyDictionary<char, string> Fields
    {
        get
        {
            var fields = new Dictionary<char, string>();
            var pos = 0;
            while (pos < Body.Length && Body[pos] != 0)
            {
                var end = Array.IndexOf(Body, (byte)0, pos + 1);
                fields[(char)Body[pos]] = Encoding.UTF8.GetString(Body, pos + 1, end - pos - 1);
                pos = end + 1;
            }

            return fields;
        }
    }
}

/// <summary>A TCP connection that sends raw bytes and reads backend messages, with deadlines.</summary>
public sealed class PgWire : IDisposable
{
    private readonly Socket _socket;
    private System.Net.Security.SslStream? _tls;

    private PgWire(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    /// <summary>The TLS layer after <see cref="StartTlsAsync"/>; every later send and read goes through it.</summary>
    public System.Net.Security.SslStream? Tls => _tls;

    /// <summary>
    /// A TLS handshake on this connection (after an SSLRequest answered 'S', or straight away for
    /// direct TLS), trusting only <paramref name="caFile"/> and checking <paramref name="host"/>;
    /// <paramref name="alpn"/> is offered when given. Throws when the handshake fails.
    /// With <paramref name="verify"/> false any certificate is taken (to look at what a server presents).
    /// </summary>
    public async Task StartTlsAsync(string caFile, string host = "localhost", string? alpn = null, TimeSpan? timeout = null, bool verify = true)
    {
        var policy = TestPki.TrustOnly(caFile);
        var tls = new System.Net.Security.SslStream(new NetworkStream(_socket, ownsSocket: false));
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        await tls.AuthenticateAsClientAsync(
            new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = host,
                ApplicationProtocols = alpn is null ? null : [new System.Net.Security.SslApplicationProtocol(alpn)],
                CertificateChainPolicy = policy,
                RemoteCertificateValidationCallback = verify ? null : (_, certificate, _, _) => certificate is not null,
            },
            cts.Token);
        _tls = tls;
    }

    public static async Task<PgWire> ConnectAsync(string host, int port)
    {
        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true, NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await socket.ConnectAsync(IPAddress.Parse(host), port, cts.Token);
            return new PgWire(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static byte[] StartupMessage(params (string Name, string Value)[] parameters)
    {
        var body = new List<byte> { 0, 3, 0, 0 };
        foreach (var (name, value) in parameters)
        {
            body.AddRange(Encoding.UTF8.GetBytes(name));
            body.Add(0);
            body.AddRange(Encoding.UTF8.GetBytes(value));
            body.Add(0);
        }

        body.Add(0);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, body.Count + 4);
        return [.. length, .. body];
    }

    public static byte[] SslRequest => [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];

    /// <summary>A typed protocol message (either direction): type byte, int32 length (itself + body), body.</summary>
    public static byte[] Message(char type, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var message = new byte[5 + body.Length];
        message[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), 4 + body.Length);
        body.CopyTo(message, 5);
        return message;
    }

    /// <summary>A simple Query message.</summary>
    public static byte[] Query(string sql) => Message('Q', [.. Encoding.UTF8.GetBytes(sql), 0]);

    /// <summary>Wraps a socket accepted by a test's scripted server.</summary>
    public static PgWire Adopt(Socket socket) => new(socket ?? throw new ArgumentNullException(nameof(socket)));

    public async Task SendAsync(byte[] bytes)
    {
        if (_tls is { } tls)
        {
            await tls.WriteAsync(bytes);
        }
        else
        {
            await _socket.SendAsync(bytes, SocketFlags.None);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; null when the peer closed first.</summary>
    public async Task<byte[]?> ReadExactlyAsync(int count, TimeSpan timeout)
    {
        var buffer = new byte[count];
        var filled = 0;
        using var cts = new CancellationTokenSource(timeout);
        while (filled < count)
        {
            var read = _tls is { } tls
                ? await tls.ReadAsync(buffer.AsMemory(filled), cts.Token)
                : await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cts.Token);
            if (read == 0)
            {
                return null;
            }

            filled += read;
        }

        return buffer;
    }

    /// <summary>Reads one typed backend message; null on a clean close.</summary>
    public async Task<WireMessage?> ReadMessageAsync(TimeSpan timeout)
    {
        var header = await ReadExactlyAsync(5, timeout);
        if (header is null)
        {
            return null;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
        var body = length > 4 ? await ReadExactlyAsync(length - 4, timeout) : [];
        return body is null ? null : new WireMessage((char)header[0], body);
    }

    /// <summary>Backend messages up to and including ReadyForQuery; an error when the peer closes first.</summary>
    public async Task<List<WireMessage>> ReadUntilReadyAsync(TimeSpan timeout)
    {
        var messages = new List<WireMessage>();
        while (await ReadMessageAsync(timeout) is { } message)
        {
            messages.Add(message);
            if (message.Type == 'Z')
            {
                return messages;
            }
        }

        throw new EndOfStreamException($"closed after {string.Concat(messages.Select(m => m.Type))}, before ReadyForQuery");
    }

    /// <summary>True when the peer closes (EOF or reset) within <paramref name="timeout"/> without sending anything.</summary>
    public async Task<bool> ClosedWithoutDataAsync(TimeSpan timeout)
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) == 0;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    /// <summary>
    /// Sends <paramref name="bytes"/>, ends our side, and reads (and discards) whatever comes back
    /// until the peer closes; true when it closed within <paramref name="timeout"/>. A fuzz client:
    /// every input must end in a clean close, never a hang.
    /// </summary>
    public Task<bool> SendAndDrainAsync(byte[] bytes, TimeSpan timeout) => _tls is { } tls ? SendAndDrainAsync(tls, _socket, bytes, timeout) : SendAndDrainAsync(_socket, bytes, timeout);

    /// <summary>The same over TLS: our side's end is the TCP half-close under the TLS layer.</summary>
    private static async Task<bool> SendAndDrainAsync(System.Net.Security.SslStream tls, Socket socket, byte[] bytes, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            await tls.WriteAsync(bytes, cts.Token);
            socket.Shutdown(SocketShutdown.Send);
            while (await tls.ReadAsync(buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (IOException)
        {
            // A reset or an alert under the TLS layer: closed.
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _tls?.Dispose();
        _socket.Dispose();
    }

    /// <summary>
    /// Sends <paramref name="command"/> and a newline to a control socket and reads until the
    /// server closes; true when it closed within <paramref name="timeout"/>. A command over the
    /// limit is answered and closed before the rest is read, so our send may be reset: that is a
    /// clean close too.
    /// </summary>
    public static async Task<bool> SendToControlSocketAsync(string path, byte[] command, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(command);
        using var control = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await control.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return await SendAndDrainAsync(control, [.. command, (byte)'\n'], timeout);
    }

    /// <summary>Send, end our side, discard everything until the peer closes; a reset counts as a close, a timeout does not.</summary>
    private static async Task<bool> SendAndDrainAsync(Socket socket, byte[] bytes, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            await socket.SendAsync(bytes, SocketFlags.None, cts.Token);
            socket.Shutdown(SocketShutdown.Send);
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
