// PreauthLoginTests.cs: conmgr authenticates SCRAM users itself with secrets from the instance's watchdog, answers as the server would, and logs in for them with the recovered key.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Preauth;

public sealed class PreauthLoginTests
{
    private const string AllScram = "host all all 127.0.0.1/32 scram-sha-256\n";

    [Fact]
    public async Task A_scram_user_logs_in_through_conmgr_and_a_wrong_password_an_unknown_role_and_a_superuser_get_the_servers_28P01_without_a_backend()
    {
        await using var t = await PreauthCluster.StartAsync(AllScram);

        var ok = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app");
        Assert.True(ok.ExitCode == 0 && ok.StandardOutput.Trim() == "app|f", ok.Output);

        // The server's own words for a wrong password, and conmgr's for the three cases it must not tell apart.
        var direct = await t.DirectAsync("app", "wrong");
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", direct.Output, StringComparison.Ordinal);
        var before = await t.BackendsAsync();
        foreach (var (user, password) in new[] { ("app", "wrong"), ("no_such_role", PreauthCluster.Password), ("postgres", PreauthCluster.Password) })
        {
            var refused = await PreauthCluster.PsqlAsync(t.ReadWritePort, user, password);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains($"FATAL:  password authentication failed for user \"{user}\"", refused.Output, StringComparison.Ordinal);
        }

        Assert.Equal(before, await t.BackendsAsync());
        var log = t.Cluster.Node.Log;
        Assert.Contains("Role \"no_such_role\" does not exist. The client gets a mock exchange.", log, StringComparison.Ordinal);
        Assert.Contains("The watchdog does not hand out the secret of \"postgres\"", log, StringComparison.Ordinal);
        Assert.DoesNotContain("SCRAM-SHA-256$", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nologin_an_expired_password_and_a_connection_limit_behave_as_on_the_server()
    {
        await using var t = await PreauthCluster.StartAsync(AllScram);

        // NOLOGIN is told only after the right password.
        Assert.Contains("FATAL:  role \"app_nologin\" is not permitted to log in", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_nologin")).Output, StringComparison.Ordinal);
        Assert.Contains("FATAL:  password authentication failed for user \"app_nologin\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_nologin", "wrong")).Output, StringComparison.Ordinal);

        // A connection limit is the server's to enforce: its own error comes through.
        await t.Primary.ExecuteAsync("alter role app_other connection limit 0");
        var direct = await t.DirectAsync("app_other", PreauthCluster.Password);
        var limited = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_other");
        Assert.Contains("FATAL:  too many connections for role \"app_other\"", direct.Output, StringComparison.Ordinal);
        Assert.Contains("FATAL:  too many connections for role \"app_other\"", limited.Output, StringComparison.Ordinal);

        // An expired password fails as a wrong one, and only conmgr's log says why.
        await t.Primary.ExecuteAsync("alter role app valid until '2000-01-01'");
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app")).Output, StringComparison.Ordinal);
        await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("User \"app\" has an expired password.", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's reason");
    }

    [Fact]
    public async Task Over_tls_psql_and_npgsql_bind_to_conmgrs_certificate_and_conmgr_binds_to_the_servers()
    {
        await using var t = await PreauthCluster.StartAsync("hostssl all all 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 reject\n", "backend_sslmode = require\n", serverTls: true);

        // channel_binding=require: only SCRAM-SHA-256-PLUS will do, bound to conmgr's certificate; conmgr's login is -PLUS to the server's (another) certificate.
        var psql = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", options: t.VerifiedTls("require"));
        Assert.True(psql.ExitCode == 0 && psql.StandardOutput.Trim() == "app|t", psql.Output);

        await using (var connection = await OpenNpgsqlAsync(t, "Require"))
        {
            Assert.Equal("app", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
        }

        await using (var connection = await OpenNpgsqlAsync(t, "Disable"))
        {
            Assert.Equal("app", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
        }

        // hostssl: the same user without TLS is refused by the next line.
        var plaintext = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app");
        Assert.Contains("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app\", database \"postgres\", no encryption", plaintext.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_the_read_only_port_the_standbys_watchdog_gives_the_secret_and_conmgr_logs_in_to_the_standby_read_only()
    {
        await using var t = await PreauthCluster.StartAsync(AllScram, standbys: 1);
        await Poll.UntilAsync(async () => await t.Cluster.Cluster.Instances[1].ScalarAsync<long>("select count(*) from pg_roles where rolname = 'app'") == 1, TransparentCluster.Deadline, "the roles on the standby");

        var standby = await PreauthCluster.PsqlAsync(t.ReadOnlyPort, "app", sql: "select current_user, pg_is_in_recovery(), current_setting('transaction_read_only')");
        Assert.True(standby.ExitCode == 0 && standby.StandardOutput.Trim() == "app|t|on", standby.Output);
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", (await PreauthCluster.PsqlAsync(t.ReadOnlyPort, "app", "wrong")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_group_rule_admits_the_groups_members_by_membership_from_the_instance()
    {
        await using var t = await PreauthCluster.StartAsync("host all +app_group 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 reject\n");

        var member = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_member");
        Assert.True(member.ExitCode == 0 && member.StandardOutput.Trim() == "app_member|f", member.Output);
        var other = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_other");
        Assert.Contains("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app_other\"", other.Output, StringComparison.Ordinal);

        // Membership is the instance's now, not conmgr's memory: granted, the next login is admitted.
        await t.Primary.ExecuteAsync("grant app_group to app_other");
        var granted = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_other");
        Assert.True(granted.ExitCode == 0 && granted.StandardOutput.Trim() == "app_other|f", granted.Output);
    }

    [Fact]
    public async Task A_watchdog_that_did_not_verify_conmgrs_certificate_hands_out_no_secret()
    {
        // TLS and the shared secret, but no client certificates asked for: an encrypted link, not one the watchdog authenticated by certificate.
        await using var t = await PreauthCluster.StartAsync(AllScram, watchdogTls: a => [.. a.WatchdogTls(clientCertificates: false), .. a.WatchdogSecret], conmgrLines: string.Empty, serverSettings: null, extraHeartbeat: true);

        var refused = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app");
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", refused.Output, StringComparison.Ordinal);
        await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("The watchdog answers lookups only on links authenticated by a verified client certificate", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's reason in its log");
    }

    private static Task<NpgsqlConnection> OpenNpgsqlAsync(PreauthCluster t, string channelBinding) =>
        Proxy.ProxyCluster.OpenAsync(t.ReadWritePort, $"Host=localhost;Username=app;Password={PreauthCluster.Password};SSL Mode=VerifyFull;Root Certificate={t.Tls.Pki.CaFile};Channel Binding={channelBinding}");
}
