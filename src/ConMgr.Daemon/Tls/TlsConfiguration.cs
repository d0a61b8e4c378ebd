// TlsConfiguration.cs: conmgr's TLS material as it stands now, loaded at start and replaced whole on SIGHUP.
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Tls;

namespace ConMgr.Daemon.Tls;

/// <summary>
/// The proxy ports' server context (null while <c>ssl = off</c>), the backend client context and
/// the heartbeat's authentication.
/// Each connection takes the current one when it starts and keeps it: a reload changes what new
/// connections get and never touches a session in progress. At start a file that cannot be used
/// stops conmgr (FATAL, as the server's "could not load server certificate file"); on reload it
/// is logged and the previous material stays in force, as PostgreSQL does with its SSL files.
/// </summary>
public sealed class TlsConfiguration
{
    /// <summary>The protocol name PostgreSQL 17 negotiates by ALPN.</summary>
    public const string PostgresAlpn = "postgresql";

    private volatile ServerTlsContext? _proxy;
    private volatile ClientTlsContext _backend;
    private volatile HeartbeatAuthentication _heartbeat;

    private TlsConfiguration(ServerTlsContext? proxy, ClientTlsContext backend, HeartbeatAuthentication heartbeat)
    {
        _proxy = proxy;
        _backend = backend;
        _heartbeat = heartbeat;
    }

    /// <summary>TLS on the proxy ports; null when <c>ssl = off</c>.</summary>
    public ServerTlsContext? Proxy => _proxy;

    public ClientTlsContext Backend => _backend;

    /// <summary>How the next heartbeat connection authenticates: TLS (null: plaintext) and the shared secret (null: none).</summary>
    public HeartbeatAuthentication Heartbeat => _heartbeat;

    /// <exception cref="TlsFileException">A file cannot be used.</exception>
    public static TlsConfiguration Load(ConMgrSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new TlsConfiguration(LoadProxy(settings.Ssl), ClientTlsContext.Load(settings.BackendTls), HeartbeatAuthentication.Load(settings.HeartbeatAuth));
    }

    /// <summary>Applies <paramref name="settings"/>' TLS parameters, each part only if all its files load.</summary>
    public void Reload(ConMgrSettings settings, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        try
        {
            _proxy = LoadProxy(settings.Ssl);
            log.Log(_proxy is null ? "ssl = off: the proxy ports answer SSL requests with 'N'" : $"proxy ports' TLS configuration reloaded (certificate \"{_proxy.Certificate.Subject}\", valid until {_proxy.Certificate.NotAfter:u})");
        }
        catch (TlsFileException ex)
        {
            log.Log($"{ex.Message}; SSL configuration was not reloaded");
        }

        try
        {
            _backend = ClientTlsContext.Load(settings.BackendTls);
            log.Log($"backend TLS configuration reloaded (backend_sslmode = {ConMgr.Daemon.Proxy.BackendOpener.ModeName(_backend.Mode)})");
        }
        catch (TlsFileException ex)
        {
            log.Log($"{ex.Message}; backend TLS configuration was not reloaded");
        }

        try
        {
            _heartbeat = HeartbeatAuthentication.Load(settings.HeartbeatAuth);
            log.Log($"heartbeat authentication reloaded ({_heartbeat.Describe()}); it applies to the next connection to each watchdog");
        }
        catch (TlsFileException ex)
        {
            log.Log($"{ex.Message}; heartbeat authentication was not reloaded");
        }
    }

    private static ServerTlsContext? LoadProxy(ServerTlsSettings ssl) => ssl.Enabled ? ServerTlsContext.Load(ssl, PostgresAlpn) : null;
}
