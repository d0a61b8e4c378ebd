// TlsFiles.cs: reads certificates, keys and CA bundles from PEM files, with PostgreSQL's checks on the key file.
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ConMgr.Hosting.Tls;

/// <summary>A TLS file could not be used; the message names the file and why.</summary>
public sealed class TlsFileException : Exception
{
    public TlsFileException(string message)
        : base(message)
    {
    }

    public TlsFileException()
    {
    }

    public TlsFileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// PEM files, read the way the PostgreSQL server reads ssl_cert_file and ssl_key_file: the
/// certificate file may carry intermediate certificates after the leaf (they are sent with it), and
/// a key file readable by group or others is refused unless it belongs to root and is at most 0640
/// (be-secure-common.c's check). Files are bounded in size before they are read.
/// </summary>
public static class TlsFiles
{
    /// <summary>No certificate, key or CA bundle ConMgr reads is larger (a system CA bundle is about 200 KiB).</summary>
    public const long MaxFileBytes = 4 * 1024 * 1024;

    /// <summary>The certificate (with its private key) and the intermediates that follow it in the file.</summary>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Intermediates) LoadCertificate(string certFile, string keyFile)
    {
        var certificates = LoadCertificates(certFile, "certificate");
        CheckKeyFile(keyFile);
        var keyPem = ReadBounded(keyFile, "private key");
        X509Certificate2 withKey;
        try
        {
            withKey = X509Certificate2.CreateFromPem(ReadBounded(certFile, "certificate"), keyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            // ArgumentException: a key that is not the certificate's ("does not match the public key").
            throw new TlsFileException($"could not load private key file \"{keyFile}\" for certificate \"{certFile}\": {ex.Message}");
        }

        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < certificates.Count; i++)
        {
            intermediates.Add(certificates[i]);
        }

        return (withKey, intermediates);
    }

    /// <summary>Every certificate in a PEM file (a CA bundle); at least one, or an error.</summary>
    public static X509Certificate2Collection LoadCertificates(string file, string what)
    {
        var pem = ReadBounded(file, what);
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new TlsFileException($"could not load {what} file \"{file}\": {ex.Message}");
        }

        return collection.Count > 0 ? collection : throw new TlsFileException($"could not load {what} file \"{file}\": no certificate in it");
    }

    /// <summary>Fewest bytes a shared secret may have: a HMAC-SHA256 key of full strength (a generated secret has 64).</summary>
    public const int MinSecretBytes = 32;

    /// <summary>
    /// A secret file's bytes, as they are (not decoded as text: any byte may be in a secret), with
    /// trailing CR and LF bytes removed so an editor's newline does not change it; refused when
    /// readable by others, larger than a secret can sensibly be (4 KiB), or shorter than
    /// <see cref="MinSecretBytes"/>.
    /// </summary>
    public static byte[] LoadSecret(string file)
    {
        CheckKeyFile(file);
        var bytes = ReadBoundedBytes(file, "secret", MaxSecretFileBytes);
        var length = bytes.Length;
        while (length > 0 && bytes[length - 1] is (byte)'\n' or (byte)'\r')
        {
            length--;
        }

        if (length < MinSecretBytes)
        {
            throw new TlsFileException($"secret file \"{file}\" holds {length} bytes: at least {MinSecretBytes} are needed (a generated one has 64: see docs/tls.md)");
        }

        return bytes[..length];
    }

    /// <summary>A secret file larger than this is not a secret file.</summary>
    private const int MaxSecretFileBytes = 4096;

    private static string ReadBounded(string file, string what) => System.Text.Encoding.UTF8.GetString(ReadBoundedBytes(file, what, MaxFileBytes));

    /// <summary>The file's bytes, its size checked against <paramref name="max"/> before anything is read.</summary>
    private static byte[] ReadBoundedBytes(string file, string what, long max)
    {
        try
        {
            var info = new FileInfo(file);
            if (!info.Exists)
            {
                throw new TlsFileException($"could not load {what} file \"{file}\": No such file or directory");
            }

            if (info.Length > max)
            {
                throw new TlsFileException($"could not load {what} file \"{file}\": larger than {max} bytes");
            }

            return File.ReadAllBytes(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsFileException($"could not load {what} file \"{file}\": {ex.Message}");
        }
    }

    /// <summary>The server's rule for its key file: 0600 (or at most 0640 when root owns it).</summary>
    private static void CheckKeyFile(string file)
    {
        UnixFileMode mode;
        try
        {
            mode = File.GetUnixFileMode(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsFileException($"could not access private key file \"{file}\": {ex.Message}");
        }

        const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        const UnixFileMode AllowedForRoot = UnixFileMode.GroupRead;
        var ownedByRoot = Posix.Libc.OwnerOf(file) == 0;
        var excess = mode & GroupOrOther & ~(ownedByRoot ? AllowedForRoot : UnixFileMode.None);
        if (excess != UnixFileMode.None)
        {
            throw new TlsFileException($"private key file \"{file}\" has group or world access: it must be u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or less if owned by root");
        }
    }
}
