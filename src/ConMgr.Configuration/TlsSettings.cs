// TlsSettings.cs: conmgr.conf's TLS parameters, grouped by link: applications, servers, watchdogs.
using System.Security.Authentication;

namespace ConMgr.Configuration;

/// <summary>libpq's sslmode values, for conmgr's connections to the servers (<c>backend_sslmode</c>).</summary>
public enum BackendSslMode
{
    /// <summary>Plaintext only.</summary>
    Disable,

    /// <summary>Plaintext first; TLS if the server refuses the plaintext session.</summary>
    Allow,

    /// <summary>TLS first; plaintext if the server has no TLS or refuses the TLS session.</summary>
    Prefer,

    /// <summary>TLS, without checking the server's certificate.</summary>
    Require,

    /// <summary>TLS, with the server's certificate chained to <c>backend_sslrootcert</c>.</summary>
    VerifyCa,

    /// <summary>As <see cref="VerifyCa"/>, and the certificate names the host conmgr connects to.</summary>
    VerifyFull,
}

/// <summary>
/// TLS on the proxy ports, PostgreSQL's own parameters: <c>ssl</c>, <c>ssl_cert_file</c>,
/// <c>ssl_key_file</c>, <c>ssl_ca_file</c>, <c>ssl_min_protocol_version</c>,
/// <c>ssl_max_protocol_version</c>, <c>ssl_ciphers</c>. File names are absolute by the time they get
/// here (relative ones are taken from the conmgr directory, as the server takes them from its data directory).
/// </summary>
public sealed record ServerTlsSettings
{
    /// <summary>PostgreSQL's default for ssl_ciphers: leaves the choice to the TLS library (docs/configuration.md).</summary>
    public const string DefaultCiphers = "HIGH:MEDIUM:+3DES:!aNULL";

    public bool Enabled { get; init; }

    public string CertFile { get; init; } = "server.crt";

    public string KeyFile { get; init; } = "server.key";

    /// <summary>Certificate authorities for client certificates; null: none asked for.</summary>
    public string? CaFile { get; init; }

    public SslProtocols MinProtocol { get; init; } = SslProtocols.Tls12;

    /// <summary>None: no upper bound.</summary>
    public SslProtocols MaxProtocol { get; init; } = SslProtocols.None;

    public string Ciphers { get; init; } = DefaultCiphers;
}

/// <summary>TLS from conmgr to the servers: <c>backend_sslmode</c>, <c>backend_sslrootcert</c>, <c>backend_sslcert</c>, <c>backend_sslkey</c>.</summary>
public sealed record BackendTlsSettings
{
    public BackendSslMode Mode { get; init; } = BackendSslMode.Prefer;

    /// <summary>Trusted roots for verify-ca and verify-full; <c>system</c> means the system's store (as libpq's sslrootcert=system).</summary>
    public string? RootCert { get; init; }

    public string? Cert { get; init; }

    public string? Key { get; init; }
}

/// <summary>How conmgr proves itself to the watchdogs and checks them: <c>heartbeat_sslcert</c>, <c>heartbeat_sslkey</c>, <c>heartbeat_sslrootcert</c>, <c>heartbeat_secret_file</c>.</summary>
public sealed record HeartbeatAuthSettings
{
    public string? Cert { get; init; }

    public string? Key { get; init; }

    /// <summary>Set: the heartbeat runs over TLS and each watchdog's certificate must chain to it and name its host.</summary>
    public string? RootCert { get; init; }

    /// <summary>
    /// The shared secret of the challenge-response handshake (docs/protocol.md). Unset (and no
    /// heartbeat_sslrootcert): <see cref="DefaultSecretFile"/> in the conmgr directory, which must
    /// then exist; <c>none</c>: null with <see cref="Unauthenticated"/>.
    /// </summary>
    public string? SecretFile { get; init; }

    /// <summary><see cref="SecretFile"/> is the default one (its error says where to get it).</summary>
    public bool SecretFileIsDefault { get; init; }

    /// <summary><c>heartbeat_secret_file = none</c> and no heartbeat_sslrootcert: watchdogs are not authenticated, by explicit choice.</summary>
    public bool Unauthenticated => SecretFile is null && RootCert is null;

    /// <summary>Where the watchdog generates its secret, and where conmgr looks for its copy.</summary>
    public const string DefaultSecretFile = "heartbeat.secret";

    public bool UsesTls => RootCert is not null;
}
