// ConmgrNames.cs: watchdog.conmgr_names, the certificate subjects a CA's certificates are narrowed to (as pg_hba's clientname).
using System.Security.Cryptography.X509Certificates;

namespace ConMgr.Watchdog.Server;

/// <summary>
/// A client certificate is a conmgr's when its subject's common name, or one of its DNS
/// subject-alternative names, is in the list (case-insensitive, as host names): a CA that signs
/// other certificates too (users', services') then vouches only for the named conmgrs.
/// </summary>
internal static class ConmgrNames
{
    /// <param name="subject">The certificate's subject, for the refusal line.</param>
    public static bool Accepts(X509Certificate certificate, IReadOnlyList<string> names, out string subject)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var cert = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        subject = cert.Subject;
        var cn = cert.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        if (names.Contains(cn, StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }

        foreach (var extension in cert.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san && san.EnumerateDnsNames().Any(n => names.Contains(n, StringComparer.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }
}
