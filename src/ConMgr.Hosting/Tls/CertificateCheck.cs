// CertificateCheck.cs: one place that decides whether a peer's certificate is trusted: chain to the configured roots, and the name when asked.
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ConMgr.Hosting.Tls;

/// <summary>
/// Checks a certificate presented in a TLS handshake against a set of trusted roots (a CA file, as
/// PostgreSQL's ssl_ca_file and libpq's sslrootcert: only those roots, not the system's) or the
/// system's store. The name check is .NET's (SslStream compares the certificate with the target
/// host, DNS names and IP addresses in subjectAltName, as libpq's verify-full does).
/// </summary>
public sealed class CertificateCheck
{
    private readonly X509Certificate2Collection? _roots;

    /// <param name="roots">Trusted roots; null: the system's trust store.</param>
    public CertificateCheck(X509Certificate2Collection? roots) => _roots = roots;

    /// <summary>Why <paramref name="certificate"/> is not trusted, or null when it is.</summary>
    /// <param name="certificate">What the peer presented (null: none).</param>
    /// <param name="presented">The chain .NET built for it, whose extra certificates are the peer's intermediates.</param>
    /// <param name="errors">SslStream's own verdict; only its name mismatch is used, and only when <paramref name="checkName"/>.</param>
    public string? Problem(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, bool checkName)
    {
        if (certificate is null)
        {
            return "no certificate was presented";
        }

        if (checkName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return "the certificate does not match the host name";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (_roots is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        }

        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = new X509Certificate2(certificate);
        if (chain.Build(leaf))
        {
            return null;
        }

        var status = chain.ChainStatus.Select(s => s.Status).Aggregate(X509ChainStatusFlags.NoError, (a, b) => a | b);
        return status switch
        {
            _ when (status & X509ChainStatusFlags.NotTimeValid) != 0 => $"the certificate \"{leaf.Subject}\" has expired or is not yet valid (valid {leaf.NotBefore:u} to {leaf.NotAfter:u})",
            _ when (status & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0 => $"the certificate \"{leaf.Subject}\" is not signed by a trusted certificate authority",
            _ => $"the certificate \"{leaf.Subject}\" is not trusted: {string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))}",
        };
    }
}
