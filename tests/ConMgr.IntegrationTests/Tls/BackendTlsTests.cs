// BackendTlsTests.cs: conmgr's own TLS to the servers under backend_sslmode: a TLS-only server, verification, libpq's fallbacks, conmgr's client certificate.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Tls;

public sealed class BackendTlsTests
{
    private const string SessionSsl = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";

    [Fact]
    public async Task A_tls_only_server_is_reached_with_verify_full_and_refused_with_disable_and_allow_falls_back_to_tls()
    {
        await using var t = await TlsCluster.StartAsync(standbys: 0, ssl: false, prepare: pki => Task.FromResult($"backend_sslmode = verify-full\nbackend_sslrootcert = '{pki.CaFile}'"));
        var primary = t.Cluster.Cluster.Primary;
        await primary.ExecuteAsync("create role tls_user login");
        await t.EnableServerTlsAsync(primary, ["127.0.0.1"], tlsOnlyUser: "tls_user");

        // The application speaks plaintext to conmgr; conmgr speaks TLS to the server, which checks nothing but encryption.
        var verified = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, "user=tls_user"), SessionSsl);
        Assert.True(verified.ExitCode == 0 && verified.StandardOutput.Trim() == "t", verified.Output);

        await t.ReloadAsync("backend_sslmode = verify-full", "backend_sslmode = disable", "backend TLS configuration reloaded (backend_sslmode = disable)");
        var refused = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, "user=tls_user"), SessionSsl);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.True(refused.Output.Contains("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"tls_user\", database \"postgres\", no encryption", StringComparison.Ordinal), refused.Output);

        // allow: plaintext first, then TLS when the server refuses plaintext; other users stay plaintext.
        await t.ReloadAsync("backend_sslmode = disable", "backend_sslmode = allow", "backend TLS configuration reloaded (backend_sslmode = allow)");
        var allowed = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, "user=tls_user"), SessionSsl);
        Assert.True(allowed.ExitCode == 0 && allowed.StandardOutput.Trim() == "t", allowed.Output);
        var plain = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, "user=postgres"), SessionSsl);
        Assert.True(plain.ExitCode == 0 && plain.StandardOutput.Trim() == "f", plain.Output);

        // prefer: TLS whenever the server has it.
        await t.ReloadAsync("backend_sslmode = allow", "backend_sslmode = prefer", "backend TLS configuration reloaded (backend_sslmode = prefer)");
        var preferred = await TlsCluster.PsqlAsync(TlsCluster.Libpq(t.ReadWritePort, "user=postgres"), SessionSsl);
        Assert.True(preferred.ExitCode == 0 && preferred.StandardOutput.Trim() == "t", preferred.Output);
    }

    [Fact]
    public async Task Verify_full_refuses_a_server_whose_certificate_names_another_host_and_the_client_gets_08001_with_the_reason()
    {
        await using var t = await TlsCluster.StartAsync(standbys: 0, ssl: false, prepare: pki => Task.FromResult($"backend_sslmode = verify-full\nbackend_sslrootcert = '{pki.CaFile}'"));
        await t.EnableServerTlsAsync(t.Cluster.Cluster.Primary, ["db.example"]);

        var error = await Assert.ThrowsAsync<PostgresException>(() => Proxy.ProxyCluster.OpenAsync(t.ReadWritePort, "Include Error Detail=true"));
        Assert.Equal("08001", error.SqlState);
        Assert.Contains("the certificate does not match the host name", error.Detail ?? error.MessageText, StringComparison.Ordinal);

        // verify-ca checks the chain only: the same server is fine.
        await t.ReloadAsync("backend_sslmode = verify-full", "backend_sslmode = verify-ca", "backend TLS configuration reloaded (backend_sslmode = verify-ca)");
        await using var connection = await Proxy.ProxyCluster.OpenAsync(t.ReadWritePort);
        Assert.True(await Proxy.ProxyCluster.ScalarAsync<bool>(connection, SessionSsl));
    }

    [Fact]
    public async Task A_server_that_authenticates_by_certificate_takes_conmgrs_backend_sslcert_and_a_cancel_still_reaches_it()
    {
        await using var t = await TlsCluster.StartAsync(standbys: 0, ssl: false, prepare: pki =>
        {
            var client = pki.Issue("conmgr-client", "cert_user", ["conmgr.example"], client: true);
            return Task.FromResult($"backend_sslmode = verify-full\nbackend_sslrootcert = '{pki.CaFile}'\nbackend_sslcert = '{client.Cert}'\nbackend_sslkey = '{client.Key}'");
        });
        var primary = t.Cluster.Cluster.Primary;
        await primary.ExecuteAsync("create role cert_user login");
        await t.EnableServerTlsAsync(primary, ["127.0.0.1"], hbaLines: "hostssl all cert_user 127.0.0.1/32 cert\nhost all cert_user 127.0.0.1/32 reject\n");

        await using var connection = await Proxy.ProxyCluster.OpenAsync(t.ReadWritePort, "Username=cert_user");
        Assert.Equal("cert_user", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
        Assert.Equal("/CN=cert_user", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select client_dn from pg_stat_ssl where pid = pg_backend_pid()"));

        // The client's cancel goes to conmgr in plaintext and on to the server under backend_sslmode.
        await using var command = new NpgsqlCommand("select pg_sleep(60)", connection);
        var running = command.ExecuteNonQueryAsync();
        await Poll.UntilAsync(async () => await primary.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'") == 1, TransparentCluster.Deadline, "the query running");
        command.Cancel();
        var cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => running);
        Assert.Equal("57014", Assert.IsType<PostgresException>(cancelled.InnerException).SqlState);
    }
}
