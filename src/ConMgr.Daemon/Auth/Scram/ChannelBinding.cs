// ChannelBinding.cs: RFC 5929's tls-server-end-point: the hash of a TLS server's certificate that SCRAM-SHA-256-PLUS binds to.
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ConMgr.Daemon.Auth.Scram;

/// <summary>
/// The certificate hashed with the hash of its signature algorithm, MD5 and SHA-1 upgraded to
/// SHA-256 (RFC 5929 section 4.1), as PostgreSQL's be_tls_get_certificate_hash. A signature
/// algorithm with no single hash (RSASSA-PSS, Ed25519) gives null: no -PLUS is offered with such a
/// certificate, and none is used towards such a server.
/// </summary>
public static class ChannelBinding
{
    public static byte[]? ServerEndPoint(X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return null;
        }

        var raw = certificate.GetRawCertData();
        using var parsed = X509CertificateLoader.LoadCertificate(raw);
        return parsed.SignatureAlgorithm.Value switch
        {
            "1.2.840.113549.1.1.4" or "1.2.840.113549.1.1.5" or "1.2.840.10045.4.1" or "1.2.840.113549.1.1.11" or "1.2.840.10045.4.3.2" => SHA256.HashData(raw),
            "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => SHA384.HashData(raw),
            "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => SHA512.HashData(raw),
            _ => null,
        };
    }
}
