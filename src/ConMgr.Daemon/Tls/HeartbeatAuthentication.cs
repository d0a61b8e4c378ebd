// HeartbeatAuthentication.cs: how conmgr proves itself to the watchdogs and checks them: TLS with certificates both ways, a shared secret, or both.
using ConMgr.Configuration;
using ConMgr.Hosting.Tls;

namespace ConMgr.Daemon.Tls;

/// <summary>
/// From <c>heartbeat_sslrootcert</c> (TLS, each watchdog's certificate verified as verify-full:
/// chained to it and naming the instance's host), <c>heartbeat_sslcert</c>/<c>heartbeat_sslkey</c>
/// (conmgr's certificate, for watchdogs that ask for one) and <c>heartbeat_secret_file</c> (the
/// shared secret of the challenge-response). With a secret and no TLS, a watchdog that does not
/// prove the secret is refused as one that fails verification: conmgr must not take topology from
/// a stranger.
/// </summary>
public sealed record HeartbeatAuthentication(ClientTlsContext? Tls, byte[]? Secret)
{
    /// <exception cref="TlsFileException">A file cannot be used.</exception>
    public static HeartbeatAuthentication Load(HeartbeatAuthSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var tls = settings.UsesTls
            ? ClientTlsContext.Load(new BackendTlsSettings { Mode = BackendSslMode.VerifyFull, RootCert = settings.RootCert, Cert = settings.Cert, Key = settings.Key })
            : null;
        try
        {
            return new HeartbeatAuthentication(tls, settings.SecretFile is { } file ? TlsFiles.LoadSecret(file) : null);
        }
        catch (TlsFileException ex) when (settings.SecretFileIsDefault && !File.Exists(settings.SecretFile))
        {
            throw new TlsFileException($"{ex.Message}. The heartbeat is authenticated by default: copy the watchdog's secret ($PGDATA/heartbeat.secret, generated at its first start) here with mode 0600, or set heartbeat_sslrootcert (TLS), or heartbeat_secret_file = none to accept unauthenticated watchdogs (docs/tls.md)", ex);
        }
    }

    public string Describe() => (Tls, Secret) switch
    {
        (null, null) => "plaintext, unauthenticated",
        (null, _) => "plaintext, shared secret",
        (_, null) => "TLS, verify-full",
        _ => "TLS, verify-full, shared secret",
    };
}
