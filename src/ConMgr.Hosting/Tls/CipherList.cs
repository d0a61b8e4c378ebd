// CipherList.cs: ssl_ciphers as .NET can apply it: PostgreSQL's default leaves the choice to OpenSSL; otherwise an explicit list of suites.
using System.Net.Security;

namespace ConMgr.Hosting.Tls;

/// <summary>
/// .NET cannot take an OpenSSL cipher string ("HIGH:!aNULL"), only a list of suites. So
/// ssl_ciphers is either PostgreSQL's default, <c>HIGH:MEDIUM:+3DES:!aNULL</c> (or empty), which
/// leaves OpenSSL's own default list in force, or a colon-separated list of suite names, OpenSSL's
/// (<c>ECDHE-RSA-AES256-GCM-SHA384</c>) or IANA's (<c>TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384</c>).
/// Anything else is refused with a message that says so (docs/configuration.md).
/// </summary>
public static class CipherList
{
    /// <summary>OpenSSL's names of the suites an operator lists in practice, with their IANA names.</summary>
    private static readonly Dictionary<string, TlsCipherSuite> OpenSslNames = new(StringComparer.Ordinal)
    {
        ["ECDHE-ECDSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-ECDSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ["ECDHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-ECDSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ["ECDHE-RSA-CHACHA20-POLY1305"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ["DHE-RSA-AES128-GCM-SHA256"] = TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
        ["DHE-RSA-AES256-GCM-SHA384"] = TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,
        ["ECDHE-ECDSA-AES128-SHA256"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        ["ECDHE-ECDSA-AES256-SHA384"] = TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
        ["ECDHE-RSA-AES128-SHA256"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
        ["ECDHE-RSA-AES256-SHA384"] = TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
        ["TLS_AES_128_GCM_SHA256"] = TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        ["TLS_AES_256_GCM_SHA384"] = TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        ["TLS_CHACHA20_POLY1305_SHA256"] = TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
    };

    /// <summary>The policy for <paramref name="sslCiphers"/>: null for OpenSSL's default; an error message for what .NET cannot apply.</summary>
    public static CipherSuitesPolicy? Parse(string sslCiphers, out string? error)
    {
        ArgumentNullException.ThrowIfNull(sslCiphers);
        error = null;
        var text = sslCiphers.Trim();
        if (text.Length == 0 || text == Configuration.ServerTlsSettings.DefaultCiphers)
        {
            return null;
        }

        var suites = new List<TlsCipherSuite>();
        foreach (var name in text.Split(':', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (OpenSslNames.TryGetValue(name, out var suite) || (name.StartsWith("TLS_", StringComparison.Ordinal) && Enum.TryParse(name, ignoreCase: false, out suite)))
            {
                suites.Add(suite);
                continue;
            }

            error = $"\"{name}\" is not a cipher suite name .NET can apply: list suites by name (OpenSSL's or IANA's), or use the default '{Configuration.ServerTlsSettings.DefaultCiphers}' (OpenSSL's own list); cipher string keywords such as HIGH or !aNULL are not supported";
            return null;
        }

        return new CipherSuitesPolicy(suites);
    }
}
