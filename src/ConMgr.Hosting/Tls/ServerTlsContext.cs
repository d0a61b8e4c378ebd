// ServerTlsContext.cs: what a TLS server end needs, loaded once from files: certificate and chain, client CAs, versions, suites, ALPN.
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using ConMgr.Configuration;

namespace ConMgr.Hosting.Tls;

/// <summary>
/// An immutable TLS server configuration, built from <see cref="ServerTlsSettings"/> and swapped
/// whole on reload, so a handshake in progress keeps the context it began with. With a CA file,
/// clients are asked for a certificate (optional, as the PostgreSQL server asks when ssl_ca_file is
/// set); one that is presented must chain to that CA, or the handshake fails.
/// </summary>
public sealed class ServerTlsContext
{
    private readonly SslStreamCertificateContext _certificate;
    private readonly CertificateCheck? _clientCheck;
    private readonly CipherSuitesPolicy? _ciphers;
    private readonly SslProtocols _protocols;
    private readonly List<SslApplicationProtocol>? _alpn;

    private ServerTlsContext(SslStreamCertificateContext certificate, CertificateCheck? clientCheck, CipherSuitesPolicy? ciphers, SslProtocols protocols, List<SslApplicationProtocol>? alpn, bool requireClientCertificate)
    {
        _certificate = certificate;
        _clientCheck = clientCheck;
        _ciphers = ciphers;
        _protocols = protocols;
        _alpn = alpn;
        RequireClientCertificate = requireClientCertificate;
    }

    /// <summary>The leaf certificate this context presents (for channel binding's same-certificate test).</summary>
    public X509Certificate2 Certificate => _certificate.TargetCertificate;

    /// <summary>True when a client without a verified certificate must be refused (the watchdog's mutual TLS).</summary>
    public bool RequireClientCertificate { get; }

    /// <summary>
    /// Loads the files named by <paramref name="settings"/>; <paramref name="alpn"/> is the one
    /// protocol name offered (PostgreSQL's <c>postgresql</c>), or null for none.
    /// </summary>
    /// <exception cref="TlsFileException">A file is missing, unreadable, too open, or not what it should be; or ssl_ciphers cannot be applied.</exception>
    public static ServerTlsContext Load(ServerTlsSettings settings, string? alpn, bool requireClientCertificate = false)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var ciphers = CipherList.Parse(settings.Ciphers, out var cipherError);
        if (cipherError is not null)
        {
            throw new TlsFileException($"invalid value for parameter \"ssl_ciphers\": {cipherError}");
        }

        var (certificate, intermediates) = TlsFiles.LoadCertificate(settings.CertFile, settings.KeyFile);
        var clientCheck = settings.CaFile is { } caFile ? new CertificateCheck(TlsFiles.LoadCertificates(caFile, "root certificate")) : null;
        if (requireClientCertificate && clientCheck is null)
        {
            throw new TlsFileException("client certificates are required but no CA file is set to verify them");
        }

        var protocols = ProtocolsBetween(settings.MinProtocol, settings.MaxProtocol);
        var context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        return new ServerTlsContext(context, clientCheck, ciphers, protocols, alpn is null ? null : [new SslApplicationProtocol(alpn)], requireClientCertificate);
    }

    /// <summary>The handshake options; <paramref name="onClientProblem"/> hears why a client certificate was refused.</summary>
    public SslServerAuthenticationOptions Options(Action<string>? onClientProblem = null) => new()
    {
        ServerCertificateContext = _certificate,
        ClientCertificateRequired = _clientCheck is not null,
        EnabledSslProtocols = _protocols,
        CipherSuitesPolicy = _ciphers,
        ApplicationProtocols = _alpn,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            if (_clientCheck is null || (certificate is null && !RequireClientCertificate))
            {
                return true;
            }

            var problem = _clientCheck.Problem(certificate, chain, errors, checkName: false);
            if (problem is not null)
            {
                onClientProblem?.Invoke($"client certificate refused: {problem}");
            }

            return problem is null;
        },
    };

    /// <summary>The first byte of a TLS handshake record: no PostgreSQL startup packet and no heartbeat frame starts with it.</summary>
    public const byte HandshakeRecord = 0x16;

    /// <summary>
    /// Waits (without a buffer) for the peer's first byte and peeks at it: true when it opens a TLS
    /// handshake (PostgreSQL 17's direct TLS, a heartbeat over TLS), false for anything else, null
    /// when the peer closed first. Cancellation (the caller's deadline) throws.
    /// </summary>
    public static async Task<bool?> StartsWithHandshakeAsync(System.Net.Sockets.Socket socket, CancellationToken deadline)
    {
        ArgumentNullException.ThrowIfNull(socket);
        await socket.ReceiveAsync(Memory<byte>.Empty, System.Net.Sockets.SocketFlags.None, deadline);
        var first = new byte[1];
        return socket.Receive(first, System.Net.Sockets.SocketFlags.Peek) == 0 ? null : first[0] == HandshakeRecord;
    }

    /// <summary>
    /// The server side of a handshake on <paramref name="socket"/> within <paramref name="deadline"/>:
    /// the TLS stream, or why there is none (the client certificate's problem when that was it).
    /// </summary>
    public async Task<(SslStream? Tls, string? Error)> AcceptAsync(System.Net.Sockets.Socket socket, CancellationToken deadline)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var ssl = new SslStream(new System.Net.Sockets.NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        string? problem = null;
        try
        {
            await ssl.AuthenticateAsServerAsync(Options(p => problem = p), deadline);
            return (ssl, null);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            ssl.Dispose();
            return (null, problem ?? (ex is OperationCanceledException ? "timeout during the handshake" : ex.Message));
        }
    }

    private static SslProtocols ProtocolsBetween(SslProtocols min, SslProtocols max)
    {
        var result = SslProtocols.None;
        foreach (var version in new[] { SslProtocols.Tls12, SslProtocols.Tls13 })
        {
            if (version >= min && (max == SslProtocols.None || version <= max))
            {
                result |= version;
            }
        }

        return result;
    }
}
