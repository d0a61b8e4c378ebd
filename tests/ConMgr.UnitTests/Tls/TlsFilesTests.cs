// TlsFilesTests.cs: certificate, key and secret files: what loads, and each refusal with the server's wording; ssl_ciphers as .NET can take it.
using System.Net.Security;
using ConMgr.Hosting.Tls;
using ConMgr.Testing;

namespace ConMgr.UnitTests.Tls;

public sealed class TlsFilesTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("conmgr-tls-").FullName;
    private readonly TestPki _pki;

    public TlsFilesTests() => _pki = TestPki.Create(Path.Combine(_directory, "pki"));

    public void Dispose()
    {
        _pki.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void A_certificate_and_its_0600_key_load_with_the_intermediates_that_follow_in_the_file()
    {
        var files = _pki.Issue("server", "localhost", ["localhost"]);
        File.AppendAllText(files.Cert, File.ReadAllText(_pki.CaFile));

        var (certificate, intermediates) = TlsFiles.LoadCertificate(files.Cert, files.Key);

        Assert.True(certificate.HasPrivateKey);
        Assert.Equal(files.Certificate.Thumbprint, certificate.Thumbprint);
        Assert.Single(intermediates);
    }

    [Fact]
    public void A_key_readable_by_others_is_refused_with_the_servers_words_and_root_may_let_its_group_read()
    {
        var files = _pki.Issue("server", "localhost", ["localhost"]);
        File.SetUnixFileMode(files.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var error = Assert.Throws<TlsFileException>(() => TlsFiles.LoadCertificate(files.Cert, files.Key));
        Assert.Contains($"private key file \"{files.Key}\" has group or world access", error.Message, StringComparison.Ordinal);

        // The server's exception: 0640 is fine when root owns the key (the tests run as root; a postgres-owned 0640 key is refused).
        File.SetUnixFileMode(files.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Assert.Equal(Hosting.Posix.Libc.IsRoot, IsAccepted(files));
    }

    private static bool IsAccepted(CertificateFiles files)
    {
        try
        {
            TlsFiles.LoadCertificate(files.Cert, files.Key);
            return true;
        }
        catch (TlsFileException)
        {
            return false;
        }
    }

    [Fact]
    public void Missing_empty_foreign_and_oversized_files_are_each_refused_with_the_file_named()
    {
        var files = _pki.Issue("server", "localhost", ["localhost"]);
        var missing = Path.Combine(_directory, "absent.crt");
        Assert.Contains($"could not load certificate file \"{missing}\": No such file or directory", Assert.Throws<TlsFileException>(() => TlsFiles.LoadCertificate(missing, files.Key)).Message, StringComparison.Ordinal);

        var empty = Path.Combine(_directory, "empty.crt");
        File.WriteAllText(empty, "no PEM here\n");
        Assert.Contains("no certificate in it", Assert.Throws<TlsFileException>(() => TlsFiles.LoadCertificates(empty, "root certificate")).Message, StringComparison.Ordinal);

        // Another certificate's key: the pair does not match.
        var other = _pki.Issue("other", "localhost", ["localhost"]);
        Assert.Contains("could not load private key file", Assert.Throws<TlsFileException>(() => TlsFiles.LoadCertificate(files.Cert, other.Key)).Message, StringComparison.Ordinal);

        var huge = Path.Combine(_directory, "huge.crt");
        using (var stream = File.Create(huge))
        {
            stream.SetLength(TlsFiles.MaxFileBytes + 1);
        }

        Assert.Contains("larger than", Assert.Throws<TlsFileException>(() => TlsFiles.LoadCertificates(huge, "root certificate")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secret_file_is_read_as_bytes_needs_32_of_them_and_no_access_for_others_and_its_newline_is_not_part_of_it()
    {
        var secret = Path.Combine(_directory, "secret");
        File.WriteAllText(secret, "0123456789abcdef0123456789abcdef\r\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal("0123456789abcdef0123456789abcdef"u8.ToArray(), TlsFiles.LoadSecret(secret));

        // Not text: bytes that are no UTF-8 come back as they are (decoding would turn them into U+FFFD).
        byte[] binary = [.. Enumerable.Range(0, 40).Select(i => (byte)(0x80 + i))];
        File.WriteAllBytes(secret, binary);
        Assert.Equal(binary, TlsFiles.LoadSecret(secret));

        File.WriteAllText(secret, "0123456789abcdef0123456789abcde\n");
        Assert.Contains("holds 31 bytes: at least 32 are needed", Assert.Throws<TlsFileException>(() => TlsFiles.LoadSecret(secret)).Message, StringComparison.Ordinal);

        File.WriteAllBytes(secret, new byte[5000]);
        Assert.Contains("larger than 4096 bytes", Assert.Throws<TlsFileException>(() => TlsFiles.LoadSecret(secret)).Message, StringComparison.Ordinal);

        File.WriteAllText(secret, "0123456789abcdef0123456789abcdef\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("has group or world access", Assert.Throws<TlsFileException>(() => TlsFiles.LoadSecret(secret)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HIGH:MEDIUM:+3DES:!aNULL")]
    [InlineData("")]
    public void Postgresqls_default_cipher_string_leaves_openssls_list(string value)
    {
        Assert.Null(CipherList.Parse(value, out var error));
        Assert.Null(error);
    }

    [Fact]
    public void Suites_named_by_openssl_or_iana_become_a_policy_and_cipher_keywords_are_refused()
    {
        var policy = CipherList.Parse("ECDHE-ECDSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256", out var error);
        Assert.Null(error);
        Assert.NotNull(policy);
        Assert.Equal([TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TlsCipherSuite.TLS_AES_128_GCM_SHA256], policy.AllowedCipherSuites!);

        Assert.Null(CipherList.Parse("HIGH:!aNULL", out error));
        Assert.Contains("\"HIGH\" is not a cipher suite name", error, StringComparison.Ordinal);
    }
}
