// TestPki.cs: a certificate authority made in the test, and the certificates it issues, as PEM files PostgreSQL, libpq and conmgr read.
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ConMgr.Testing;

/// <summary>A certificate and its private key, as files (the key 0600).</summary>
public sealed record CertificateFiles(string Cert, string Key, X509Certificate2 Certificate);

/// <summary>
/// A throwaway CA (ECDSA P-256: quick to make, understood by every client in the tests) in a
/// directory of its own. Issued certificates name DNS names and IP addresses in subjectAltName,
/// as libpq's verify-full and .NET check them; an expired one is valid only in the past.
/// Files are owned by <see cref="Owner"/>, so the server and conmgr (the postgres OS user) accept the keys.
/// The directory is the CA's: disposing the CA removes it.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly ECDsa _caKey;

    private TestPki(string directory, X509Certificate2 ca, ECDsa caKey)
    {
        Directory = directory;
        _ca = ca;
        _caKey = caKey;
        CaFile = Path.Combine(directory, "ca.crt");
        File.WriteAllText(CaFile, ca.ExportCertificatePem() + "\n");
    }

    public string Directory { get; }

    /// <summary>The CA's certificate: what clients trust (sslrootcert) and servers verify clients with (ssl_ca_file).</summary>
    public string CaFile { get; }

    public static string Owner => "postgres";

    /// <summary>A new CA in a directory of its own under the test root.</summary>
    public static TestPki CreateTemporary(string name = "ConMgr Test CA") =>
        Create(Path.Combine(PgCluster.TestRoot, "pki-" + Guid.NewGuid().ToString("N")[..12]), name);

    /// <summary>A new CA whose files go into <paramref name="directory"/> (created).</summary>
    public static TestPki Create(string directory, string name = "ConMgr Test CA")
    {
        System.IO.Directory.CreateDirectory(directory);

        // Stamped like a cluster's directory: a test process killed mid-run leaves it to StaleClusters.
        File.WriteAllText(Path.Combine(directory, StaleClusters.OwnerFile), StaleClusters.OwnerStamp());
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return new TestPki(directory, ca, key);
    }

    /// <summary>
    /// Issues a certificate for <paramref name="commonName"/> naming <paramref name="names"/>
    /// (DNS names and IP addresses) and writes <c>stem.crt</c> and <c>stem.key</c>.
    /// </summary>
    /// <param name="client">A client certificate (clientAuth) instead of a server one (serverAuth).</param>
    /// <param name="expired">Valid from 10 days ago to 1 day ago.</param>
    public CertificateFiles Issue(string stem, string commonName, IEnumerable<string> names, bool client = false, bool expired = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                san.AddIpAddress(address);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(client ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        var notBefore = expired ? DateTimeOffset.UtcNow.AddDays(-10) : DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = expired ? DateTimeOffset.UtcNow.AddDays(-1) : DateTimeOffset.UtcNow.AddDays(29);
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = request.Create(_ca.SubjectName, X509SignatureGenerator.CreateForECDsa(_caKey), notBefore, notAfter, serial);
        var files = new CertificateFiles(Path.Combine(Directory, stem + ".crt"), Path.Combine(Directory, stem + ".key"), X509CertificateLoader.LoadCertificate(issued.RawData));
        File.WriteAllText(files.Cert, issued.ExportCertificatePem() + "\n");
        File.WriteAllText(files.Key, key.ExportPkcs8PrivateKeyPem() + "\n");
        File.SetUnixFileMode(files.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return files;
    }

    /// <summary>Gives every file to <see cref="Owner"/> (the server refuses a key it does not own).</summary>
    public async Task ChownAsync() =>
        (await ProcessRunner.RunAsync("chown", ["-R", $"{Owner}:", Directory])).EnsureSuccess("chown of the test PKI");

    /// <summary>A chain policy that trusts only the CA in <paramref name="caFile"/> (libpq's sslrootcert), for .NET TLS clients.</summary>
    public static X509ChainPolicy TrustOnly(string caFile)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(roots);
        return policy;
    }

    /// <summary>Forgets the CA and removes its directory (a nested CA's directory goes with its parent's).</summary>
    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
