// ClientTlsContext.cs: conmgr as a TLS client of the servers: backend_sslmode's meaning, the roots, conmgr's own certificate.
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using ConMgr.Configuration;
using ConMgr.Hosting.Tls;

namespace ConMgr.Daemon.Tls;

/// <summary>
/// Loaded once from <see cref="BackendTlsSettings"/> (and again on SIGHUP); the heartbeat's is a
/// verify-full one built from heartbeat_sslrootcert, heartbeat_sslcert and heartbeat_sslkey. The modes mean what
/// libpq's sslmode means: <c>require</c> encrypts without checking the server's certificate,
/// <c>verify-ca</c> checks it chains to <c>backend_sslrootcert</c>, <c>verify-full</c> also that it
/// names the host conmgr connects to (<c>backend_hostN</c>, or the address of <c>backend_hostaddrN</c>).
/// </summary>
public sealed class ClientTlsContext
{
    private readonly CertificateCheck? _check;
    private readonly SslStreamCertificateContext? _clientCertificate;

    private ClientTlsContext(BackendSslMode mode, CertificateCheck? check, SslStreamCertificateContext? clientCertificate)
    {
        Mode = mode;
        _check = check;
        _clientCertificate = clientCertificate;
    }

    public BackendSslMode Mode { get; }

    /// <summary>The order of attempts for a session, as libpq makes them: true for TLS, false for plaintext.</summary>
    public bool[] Attempts => Mode switch
    {
        BackendSslMode.Disable => [false],
        BackendSslMode.Allow => [false, true],
        BackendSslMode.Prefer => [true, false],
        _ => [true],
    };

    /// <summary>True when a server without TLS must be refused.</summary>
    public bool TlsRequired => Mode >= BackendSslMode.Require;

    /// <exception cref="TlsFileException">A file named by the settings cannot be used.</exception>
    public static ClientTlsContext Load(BackendTlsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        CertificateCheck? check = null;
        if (settings.Mode >= BackendSslMode.VerifyCa)
        {
            check = new CertificateCheck(settings.RootCert == "system" ? null : TlsFiles.LoadCertificates(settings.RootCert!, "root certificate"));
        }

        SslStreamCertificateContext? client = null;
        if (settings.Cert is { } cert && settings.Key is { } key)
        {
            var (certificate, intermediates) = TlsFiles.LoadCertificate(cert, key);
            client = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
        }

        return new ClientTlsContext(settings.Mode, check, client);
    }

    /// <summary>
    /// The client side of a handshake with <paramref name="instance"/> over <paramref name="stream"/>
    /// (left open when it fails): the TLS stream, or why there is none (the certificate's problem when that was it).
    /// </summary>
    public async Task<(SslStream? Tls, string? Error)> ConnectAsync(Stream stream, InstanceSettings instance, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: true);
        string? problem = null;
        try
        {
            await ssl.AuthenticateAsClientAsync(Options(instance, p => problem = p), cancellationToken);
            return (ssl, null);
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
        {
            ssl.Dispose();
            return (null, problem ?? ex.Message);
        }
    }

    /// <summary>The handshake's options for <paramref name="instance"/>; <paramref name="onProblem"/> hears why its certificate was refused.</summary>
    public SslClientAuthenticationOptions Options(InstanceSettings instance, Action<string> onProblem)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return new SslClientAuthenticationOptions
        {
            // libpq checks the host name when one is given, else the address (verify-full).
            TargetHost = instance.Host ?? instance.Address,
            ClientCertificateContext = _clientCertificate,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (_check is null)
                {
                    return true;
                }

                var problem = _check.Problem(certificate, chain, errors, checkName: Mode == BackendSslMode.VerifyFull);
                if (problem is not null)
                {
                    onProblem(problem);
                }

                return problem is null;
            },
        };
    }
}
