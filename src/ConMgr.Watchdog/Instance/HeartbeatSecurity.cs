// HeartbeatSecurity.cs: watchdog.ssl, its certificate files and watchdog.secret_file, as the watchdog applies them.
namespace ConMgr.Watchdog.Instance;

/// <summary>watchdog.ssl: whether heartbeat connections may, or must, use TLS.</summary>
public enum HeartbeatTlsMode
{
    /// <summary>Plaintext only (a TLS handshake is not understood).</summary>
    Off,

    /// <summary>TLS or plaintext, as the conmgr chooses.</summary>
    On,

    /// <summary>TLS only: a plaintext peer is refused.</summary>
    Require,
}

/// <summary>
/// How the watchdog authenticates its conmgr peers. File names are absolute (relative ones are
/// taken from the data directory, as the server takes its own). The certificate files default to
/// the server's ssl_cert_file, ssl_key_file and ssl_ca_file; <c>watchdog.ssl_ca_file = 'none'</c>
/// asks for no client certificate. Authentication is required when a CA file or a secret file is in
/// force: each peer must then present a certificate signed by the CA (TLS) or prove the secret.
/// </summary>
public sealed record HeartbeatSecurity(HeartbeatTlsMode Tls, string? CertFile, string? KeyFile, string? CaFile, string? SecretFile)
{
    public static HeartbeatSecurity None { get; } = new(HeartbeatTlsMode.Off, null, null, null, null);

    /// <summary>True when every peer must authenticate (by certificate or by the secret) before it counts.</summary>
    public bool AuthenticationRequired => (Tls != HeartbeatTlsMode.Off && CaFile is not null) || SecretFile is not null;

    /// <summary>From the settings' text (null: unset); <paramref name="dataDirectory"/> anchors relative names.</summary>
    public static HeartbeatSecurity From(string? ssl, string? certFile, string? keyFile, string? caFile, string? secretFile, string dataDirectory)
    {
        var mode = (ssl ?? "off").Trim().ToLowerInvariant() switch
        {
            "off" or "false" or "no" or "0" => HeartbeatTlsMode.Off,
            "on" or "true" or "yes" or "1" => HeartbeatTlsMode.On,
            "require" => HeartbeatTlsMode.Require,
            _ => throw new FormatException($"invalid value for parameter \"watchdog.ssl\": \"{ssl}\" (off, on or require)"),
        };
        string? Resolve(string? file) => file is null || file == "none" ? null : Path.GetFullPath(Path.Combine(dataDirectory, file));
        return mode == HeartbeatTlsMode.Off
            ? new HeartbeatSecurity(mode, null, null, null, Resolve(secretFile))
            : new HeartbeatSecurity(mode, Resolve(certFile ?? "server.crt"), Resolve(keyFile ?? "server.key"), Resolve(caFile), Resolve(secretFile));
    }
}
