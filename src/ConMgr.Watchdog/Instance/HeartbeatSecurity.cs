// HeartbeatSecurity.cs: watchdog.ssl, its certificate files, watchdog.conmgr_names and watchdog.secret_file, as the watchdog applies them.
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
/// How the watchdog authenticates its conmgr peers (docs/tls.md). File names are absolute (relative
/// ones are taken from the data directory, as the server takes its own). The certificate and key
/// default to the server's ssl_cert_file and ssl_key_file; client certificates are asked for only
/// when <c>watchdog.ssl_ca_file</c> names a CA: the server's own ssl_ca_file is never taken for it,
/// since every certificate that CA ever signed (each database user's) would then be a conmgr.
/// <c>watchdog.conmgr_names</c> narrows a CA's certificates to the listed subjects.
/// Authentication is the default: with no client certificates and <c>watchdog.secret_file</c>
/// unset, the secret is <see cref="DefaultSecretFile"/> in the data directory, generated at first
/// start (<see cref="HeartbeatSecretFile"/>). Only <c>watchdog.secret_file = 'none'</c> without
/// client certificates leaves peers unauthenticated, and that is logged as a WARNING.
/// </summary>
/// <param name="GenerateSecret">The secret file is the default one: create it when missing.</param>
/// <param name="ConmgrNames">Certificate subjects (CN or DNS name) accepted as conmgrs; empty: any the CA signed.</param>
public sealed record HeartbeatSecurity(HeartbeatTlsMode Tls, string? CertFile, string? KeyFile, string? CaFile, string? SecretFile, bool GenerateSecret = false, IReadOnlyList<string>? ConmgrNames = null)
{
    /// <summary>The secret file a new install gets, in the data directory.</summary>
    public const string DefaultSecretFile = "heartbeat.secret";

    /// <summary>Unauthenticated: what tests of the bare protocol ask for, and <c>watchdog.secret_file = 'none'</c>.</summary>
    public static HeartbeatSecurity None { get; } = new(HeartbeatTlsMode.Off, null, null, null, null);

    /// <summary>True when client certificates signed by watchdog.ssl_ca_file authenticate conmgrs.</summary>
    public bool ClientCertificates => Tls != HeartbeatTlsMode.Off && CaFile is not null;

    /// <summary>True when every peer must authenticate (by certificate or by the secret) before it counts.</summary>
    public bool AuthenticationRequired => ClientCertificates || SecretFile is not null;

    /// <summary>From the settings' text (null: unset); <paramref name="dataDirectory"/> anchors relative names.</summary>
    public static HeartbeatSecurity From(string? ssl, string? certFile, string? keyFile, string? caFile, string? secretFile, string dataDirectory, string? conmgrNames = null)
    {
        var mode = (ssl ?? "off").Trim().ToLowerInvariant() switch
        {
            "off" or "false" or "no" or "0" => HeartbeatTlsMode.Off,
            "on" or "true" or "yes" or "1" => HeartbeatTlsMode.On,
            "require" => HeartbeatTlsMode.Require,
            _ => throw new FormatException($"invalid value for parameter \"watchdog.ssl\": \"{ssl}\" (off, on or require)"),
        };
        string? Resolve(string? file) => file is null || file == "none" ? null : Path.GetFullPath(Path.Combine(dataDirectory, file));
        var names = (conmgrNames ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var ca = mode == HeartbeatTlsMode.Off ? null : Resolve(caFile);
        if (names.Length > 0 && ca is null)
        {
            throw new FormatException("watchdog.conmgr_names is set but no client certificate is asked for: set watchdog.ssl and watchdog.ssl_ca_file too");
        }

        // Unset: the generated default, unless client certificates already authenticate every conmgr.
        var clientCertificates = ca is not null;
        var (secret, generate) = secretFile switch
        {
            null when clientCertificates => (null, false),
            null => (Resolve(DefaultSecretFile), true),
            _ => (Resolve(secretFile), false),
        };
        return mode == HeartbeatTlsMode.Off
            ? new HeartbeatSecurity(mode, null, null, null, secret, generate, names)
            : new HeartbeatSecurity(mode, Resolve(certFile ?? "server.crt"), Resolve(keyFile ?? "server.key"), ca, secret, generate, names);
    }
}
