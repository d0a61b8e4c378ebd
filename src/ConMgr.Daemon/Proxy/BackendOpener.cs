// BackendOpener.cs: opens a server connection as libpq would under backend_sslmode: SSLRequest, handshake, first packet, and the retry with the other encryption.
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using ConMgr.Configuration;
using ConMgr.Daemon.Tls;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>A connection to a server, plaintext or TLS, with the first packet sent.</summary>
public sealed class BackendConnection(Socket socket, Stream stream, SslStream? tls, byte[]? prelude) : IDisposable
{
    public Socket Socket { get; } = socket;

    /// <summary>What the session's bytes go through: <see cref="Tls"/>, or the socket's own stream.</summary>
    public Stream Stream { get; } = stream;

    /// <summary>The TLS layer, when the server link is encrypted.</summary>
    public SslStream? Tls { get; } = tls;

    /// <summary>The server's first message, when it had to be read to decide on a retry; the client has not seen it yet.</summary>
    public byte[]? Prelude { get; } = prelude;

    public void Dispose()
    {
        Tls?.Dispose();
        Stream.Dispose();
        Socket.Dispose();
    }
}

/// <summary>
/// libpq's sslmode, applied to conmgr's connections: <c>prefer</c> sends an SSLRequest and goes on
/// in plaintext on 'N', and on a failed handshake or a server that refuses the TLS session
/// (its first message an ErrorResponse, such as pg_hba.conf's "no pg_hba.conf entry") tries once
/// more in plaintext; <c>allow</c> tries plaintext first and TLS second; <c>require</c> and the
/// verify modes never fall back. A retry replays only the startup packet: nothing has reached the
/// client yet. The whole of an attempt (connect, handshake, first answer) is bounded by the port's
/// connect timeout.
/// </summary>
public static class BackendOpener
{
    private static readonly byte[] SslRequestPacket = SslRequest.ToArray();

    /// <param name="firstPacket">The startup message, or a CancelRequest.</param>
    /// <param name="answered">True when the server answers <paramref name="firstPacket"/> (a startup message): only then can a refusal be retried.</param>
    public static async Task<(BackendConnection? Connection, string? Error)> OpenAsync(InstanceSettings instance, ClientTlsContext tls, byte[] firstPacket, bool answered, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(tls);
        var attempts = tls.Attempts;
        var errors = new List<string>();
        for (var i = 0; i < attempts.Length; i++)
        {
            var (connection, error, retry) = await AttemptAsync(instance, tls, attempts[i], firstPacket, answered && i < attempts.Length - 1, timeout);
            if (connection is not null)
            {
                return (connection, null);
            }

            errors.Add(error!);
            if (!retry)
            {
                break;
            }
        }

        return (null, string.Join("; then ", errors));
    }

    private static async Task<(BackendConnection? Connection, string? Error, bool Retry)> AttemptAsync(InstanceSettings instance, ClientTlsContext tls, bool useTls, byte[] firstPacket, bool mayRetry, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var (socket, connectError) = await BackendConnector.ConnectAsync(instance, timeout, cts.Token);
        if (socket is null)
        {
            return (null, connectError, false);
        }

        Stream stream = new NetworkStream(socket, ownsSocket: false);
        SslStream? ssl = null;
        var kind = "plaintext";
        try
        {
            if (useTls)
            {
                await stream.WriteAsync(SslRequestPacket, cts.Token);
                var answer = new byte[1];
                if (await stream.ReadAtLeastAsync(answer, 1, throwOnEndOfStream: false, cts.Token) == 0)
                {
                    return Fail($"server at {instance.Address}:{instance.Port} closed the connection during SSL negotiation", false);
                }

                switch (answer[0])
                {
                    case (byte)'S':
                        (ssl, var error) = await tls.ConnectAsync(stream, instance, cts.Token);
                        if (ssl is null)
                        {
                            return Fail($"SSL error with {instance.Address}:{instance.Port}: {error}", tls.Mode == BackendSslMode.Prefer && mayRetry);
                        }

                        stream = ssl;
                        kind = "TLS";
                        break;
                    case (byte)'N' when tls.TlsRequired:
                        return Fail($"server at {instance.Address}:{instance.Port} does not support SSL, but backend_sslmode = {ModeName(tls.Mode)} requires it", false);
                    case (byte)'N':
                        // prefer: on in plaintext on the same connection, as libpq does; nothing left to retry.
                        mayRetry = false;
                        break;
                    default:
                        return Fail($"received invalid response to SSL negotiation from {instance.Address}:{instance.Port}: '{(char)answer[0]}'", false);
                }
            }

            await stream.WriteAsync(firstPacket, cts.Token);
            byte[]? prelude = null;
            if (mayRetry)
            {
                prelude = await MessageIo.ReadAsync(stream, cts.Token);
                if (prelude is null)
                {
                    return Fail($"server at {instance.Address}:{instance.Port} closed the {kind} connection before answering", true);
                }

                if (prelude[0] == (byte)BackendMessageCode.ErrorResponse)
                {
                    return Fail($"server at {instance.Address}:{instance.Port} refused the {kind} connection: {ErrorResponse.FieldOf(prelude, (byte)'M') ?? "(no message)"}", true);
                }
            }

            var connection = new BackendConnection(socket, stream, ssl, prelude);
            socket = null;
            return (connection, null, false);
        }
        catch (OperationCanceledException)
        {
            return Fail($"timeout expired after {ConMgrConfigLoader.Format(timeout)} opening a {(useTls ? "TLS" : "plaintext")} connection to {instance.Address}:{instance.Port}", false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or MessageFormatException)
        {
            return Fail($"could not open a {kind} connection to {instance.Address}:{instance.Port}: {ex.Message}", false);
        }

        (BackendConnection?, string?, bool) Fail(string error, bool retry)
        {
            ssl?.Dispose();
            stream.Dispose();
            socket?.Dispose();
            socket = null;
            return (null, error, retry);
        }
    }

    public static string ModeName(BackendSslMode mode) => mode switch
    {
        BackendSslMode.VerifyCa => "verify-ca",
        BackendSslMode.VerifyFull => "verify-full",
        _ => mode.ToString().ToLowerInvariant(),
    };
}
