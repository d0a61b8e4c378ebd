// PreauthMethodsTests.cs: the password and md5 methods at conmgr as PostgreSQL runs them, a password change seen at the next login, and a watchdog that stops answering.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Preauth;

public sealed class PreauthMethodsTests
{
    [Fact]
    public async Task Password_and_md5_lines_work_as_the_servers_with_scram_secrets_and_with_md5_hashes_where_the_watchdog_allows_them()
    {
        await using var t = await PreauthCluster.StartAsync("host all app 127.0.0.1/32 password\nhost all app_other 127.0.0.1/32 md5\nhost all app_md5 127.0.0.1/32 md5\n", serverSettings: ["watchdog.auth_lookup_md5 = on"]);

        // password: the cleartext is checked against the SCRAM secret, and conmgr logs in by SCRAM with keys derived from it.
        var password = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app");
        Assert.True(password.ExitCode == 0 && password.StandardOutput.Trim() == "app|f", password.Output);
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", "wrong")).Output, StringComparison.Ordinal);

        // md5 with a SCRAM secret runs SCRAM, as the server does.
        var scram = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_other");
        Assert.True(scram.ExitCode == 0 && scram.StandardOutput.Trim() == "app_other|f", scram.Output);

        // md5 with an md5 hash (watchdog.auth_lookup_md5 = on): md5 to the client, the hash passed on to the server's md5.
        var md5 = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_md5");
        Assert.True(md5.ExitCode == 0 && md5.StandardOutput.Trim() == "app_md5|f", md5.Output);
        Assert.Contains("FATAL:  password authentication failed for user \"app_md5\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_md5", "wrong")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_md5_hash_is_not_handed_out_by_default_and_a_changed_password_counts_from_the_next_login()
    {
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 md5\n");

        Assert.Contains("FATAL:  password authentication failed for user \"app_md5\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_md5")).Output, StringComparison.Ordinal);
        await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("User \"app_md5\" has no password assigned, or one the watchdog does not hand out.", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's reason");

        // No verifier is cached: the new password works at once, the old one no longer.
        await t.Primary.ExecuteAsync("alter role app password 'battery staple'");
        var fresh = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", "battery staple");
        Assert.True(fresh.ExitCode == 0 && fresh.StandardOutput.Trim() == "app|f", fresh.Output);
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_watchdog_that_stops_answering_fails_only_new_logins_with_08001_naming_the_instance_and_they_work_again_when_it_answers()
    {
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\n", "preauth_lookup_timeout = 300ms\n");
        var watchdog = t.Primary.WatchdogPid ?? throw new InvalidOperationException("no watchdog");

        Hosting.Posix.Libc.Kill(watchdog, Hosting.Posix.Libc.SIGSTOP);
        ProcessResult stalled;
        try
        {
            stalled = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app");
        }
        finally
        {
            Hosting.Posix.Libc.Kill(watchdog, Hosting.Posix.Libc.SIGCONT);
        }

        // Within the lookup timeout the answer is "did not answer"; past the heartbeat timeout the link is lost: 08001 naming the instance either way, never a hang.
        Assert.NotEqual(0, stalled.ExitCode);
        Assert.Contains("FATAL:  conmgr could not authenticate this connection: no answer from the watchdog of instance 0", stalled.Output, StringComparison.Ordinal);

        await t.Cluster.Node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", TransparentCluster.Deadline, "the heartbeat back");
        var again = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app");
        Assert.True(again.ExitCode == 0 && again.StandardOutput.Trim() == "app|f", again.Output);
    }
}
