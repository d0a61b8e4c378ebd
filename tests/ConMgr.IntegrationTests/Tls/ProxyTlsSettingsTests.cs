// ProxyTlsSettingsTests.cs: the proxy ports' TLS parameters: ssl off and on by reload, certificates rotated by SIGHUP, client certificates, files conmgr refuses.
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Tls;

public sealed class ProxyTlsSettingsTests
{
    [Fact]
    public async Task With_ssl_off_a_tls_request_gets_N_and_a_reload_with_ssl_on_gives_the_next_session_tls()
    {
        await using var t = await TlsCluster.StartAsync(ssl: false);
        var port = t.ReadWritePort;
        var required = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, "sslmode=require"), "select 1");
        Assert.NotEqual(0, required.ExitCode);
        Assert.Contains("server does not support SSL, but SSL was required", required.Output, StringComparison.Ordinal);
        var preferred = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, "sslmode=prefer"), "\\conninfo");
        Assert.True(preferred.ExitCode == 0, preferred.Output);
        Assert.DoesNotContain("SSL connection", preferred.Output, StringComparison.Ordinal);

        await t.ReloadAsync("ssl = off", "ssl = on", "proxy ports' TLS configuration reloaded");
        var now = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, $"sslmode=verify-full sslrootcert={t.Pki.CaFile}"), "\\conninfo");
        Assert.True(now.ExitCode == 0, now.Output);
        Assert.Contains("SSL connection", now.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_replaced_and_reloaded_reaches_new_sessions_while_open_ones_go_on_and_an_expired_one_is_refused()
    {
        await using var t = await TlsCluster.StartAsync();
        var port = t.ReadWritePort;
        await using var open = await ProxyCluster.OpenAsync(port, $"Host=localhost;SSL Mode=VerifyFull;Root Certificate={t.Pki.CaFile}");
        Assert.Equal(t.ConMgrCertificate.Certificate.Thumbprint, await PresentedThumbprintAsync(t, port));

        // Renewal keeps the file names: the files change, then SIGHUP.
        var renewed = t.Pki.Issue("renewed", "localhost", ["localhost", "127.0.0.1"]);
        await ReplaceConMgrCertificateAsync(t, renewed);
        await t.ReloadAsync(null, null, "proxy ports' TLS configuration reloaded");
        Assert.Equal(renewed.Certificate.Thumbprint, await PresentedThumbprintAsync(t, port));
        Assert.Equal(2, await ProxyCluster.ScalarAsync<int>(open, "select 2"));

        var expired = t.Pki.Issue("expired", "localhost", ["localhost", "127.0.0.1"], expired: true);
        await ReplaceConMgrCertificateAsync(t, expired);
        await t.ReloadAsync(null, null, "proxy ports' TLS configuration reloaded", occurrence: 1);
        var refused = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, $"sslmode=verify-full sslrootcert={t.Pki.CaFile}", "localhost"), "select 1");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("certificate verify failed", refused.Output, StringComparison.Ordinal);

        // libpq 15 does not say why; OpenSSL's own client, with PostgreSQL's STARTTLS, does.
        var openssl = await ProcessRunner.RunAsync("openssl", ["s_client", "-starttls", "postgres", "-connect", $"127.0.0.1:{port}", "-CAfile", t.Pki.CaFile, "-verify_return_error"], RunAs.Self, TimeSpan.FromSeconds(30));
        Assert.Contains("certificate has expired", openssl.Output, StringComparison.Ordinal);
        Assert.Equal(3, await ProxyCluster.ScalarAsync<int>(open, "select 3"));

        // A key that cannot be read is reported, and the certificate in force stays.
        File.Delete(t.ConMgrCertificate.Key);
        await t.ReloadAsync(null, null, "SSL configuration was not reloaded");
        Assert.Equal(expired.Certificate.Thumbprint, await PresentedThumbprintAsync(t, port));
    }

    [Fact]
    public async Task With_ssl_ca_file_a_client_certificate_from_that_ca_or_none_is_accepted_and_one_from_another_ca_is_refused()
    {
        TestPki? other = null;
        CertificateFiles? good = null;
        CertificateFiles? stranger = null;
        await using var t = await TlsCluster.StartAsync(prepare: pki =>
        {
            good = pki.Issue("client", "postgres", ["client.example"], client: true);
            other = TestPki.Create(Path.Combine(pki.Directory, "other"), "Some Other CA");
            stranger = other.Issue("stranger", "postgres", ["client.example"], client: true);
            return Task.FromResult($"ssl_ca_file = '{pki.CaFile}'");
        });
        using var _ = other;
        var root = $"sslmode=verify-full sslrootcert={t.Pki.CaFile}";

        var withGood = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, $"{root} sslcert={good!.Cert} sslkey={good.Key}"), "select 1");
        Assert.True(withGood.ExitCode == 0, withGood.Output);
        var withNone = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, $"{root} sslcert=/nonexistent sslkey=/nonexistent"), "select 1");
        Assert.True(withNone.ExitCode == 0, withNone.Output);
        var withStranger = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, $"{root} sslcert={stranger!.Cert} sslkey={stranger.Key}"), "select 1");
        Assert.NotEqual(0, withStranger.ExitCode);
        Assert.Contains("SSL", withStranger.Output, StringComparison.Ordinal);
        await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("client certificate refused: the certificate \"CN=postgres\" is not signed by a trusted certificate authority", StringComparison.Ordinal), TransparentCluster.Deadline, "the refusal in conmgr's log");
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("world-readable")]
    public async Task Conmgr_does_not_start_with_a_certificate_it_cannot_use_and_says_why(string problem)
    {
        using var pki = TestPki.CreateTemporary();
        var files = pki.Issue("conmgr", "localhost", ["localhost"]);
        await pki.ChownAsync();
        var cert = problem == "missing" ? Path.Combine(pki.Directory, "absent.crt") : files.Cert;
        if (problem == "world-readable")
        {
            File.SetUnixFileMode(files.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        await using var node = await ConMgrNode.CreateAsync($"ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{files.Key}'\nbackend_hostaddr0 = '127.0.0.1'\nbackend_port0 = 5999\nlog_min_messages = log\n");
        var start = await node.CtlAsync("start");
        Assert.Equal(1, start.ExitCode);
        Assert.Contains(problem == "missing" ? $"FATAL:  could not load certificate file \"{cert}\": No such file or directory" : $"FATAL:  private key file \"{files.Key}\" has group or world access", node.Log, StringComparison.Ordinal);
        Assert.Null(node.Pid);
    }

    /// <summary>The thumbprint of the certificate conmgr presents to a new TLS connection on <paramref name="port"/>.</summary>
    private static async Task<string> PresentedThumbprintAsync(TlsCluster t, int port)
    {
        using var wire = await PgWire.ConnectAsync("127.0.0.1", port);
        await wire.SendAsync(PgWire.SslRequest);
        Assert.Equal((byte)'S', (await wire.ReadExactlyAsync(1, TransparentCluster.Deadline))![0]);
        await wire.StartTlsAsync(t.Pki.CaFile, verify: false);
        return new System.Security.Cryptography.X509Certificates.X509Certificate2(wire.Tls!.RemoteCertificate!).Thumbprint;
    }

    private static async Task ReplaceConMgrCertificateAsync(TlsCluster t, CertificateFiles files)
    {
        File.Copy(files.Cert, t.ConMgrCertificate.Cert, overwrite: true);
        File.Copy(files.Key, t.ConMgrCertificate.Key, overwrite: true);
        await t.Pki.ChownAsync();
        File.SetUnixFileMode(t.ConMgrCertificate.Key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
