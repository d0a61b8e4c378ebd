// PreauthParityTests.cs: the same rules in the server's pg_hba.conf and in conmgr_hba.conf give every client the same answer, direct and through conmgr; a password changed mid-login; the watchdog's role list; no secret anywhere conmgr reports.
using System.Globalization;
using System.Text.RegularExpressions;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Preauth;

public sealed partial class PreauthParityTests
{
    /// <summary>Both files; the server's also lets the fixture's postgres in first (its setup runs over the Unix socket anyway).</summary>
    private const string Rules = """
        host all blocked     127.0.0.1/32 reject
        host all app         127.0.0.1/32 scram-sha-256
        host all app_md5     127.0.0.1/32 md5
        host all +app_group  127.0.0.1/32 scram-sha-256
        host all app_other   127.0.0.1/32 password
        host all all         127.0.0.1/32 reject

        """;

    [Fact]
    public async Task The_same_rules_give_the_same_sqlstate_and_message_direct_and_through_conmgr()
    {
        await using var t = await PreauthCluster.StartAsync(Rules, serverSettings: ["watchdog.auth_lookup_md5 = on"]);
        await t.Primary.ExecuteAsync("create role blocked login password 'x'");
        var hba = Path.Combine(t.Primary.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, Rules + await File.ReadAllTextAsync(hba));
        Assert.True(await t.Primary.ScalarAsync<bool>("select pg_reload_conf()"));
        await Poll.UntilAsync(async () => (await t.DirectAsync("blocked", "x")).Output.Contains("rejects connection", StringComparison.Ordinal), TransparentCluster.Deadline, "the server's new rules");

        (string User, string Password)[] cases =
        [
            ("app", PreauthCluster.Password), ("app", "wrong"),
            ("app_md5", PreauthCluster.Password), ("app_md5", "wrong"),
            ("app_member", PreauthCluster.Password), ("app_member", "wrong"),
            ("app_other", PreauthCluster.Password), ("app_other", "wrong"),
            ("app_nologin", PreauthCluster.Password), ("blocked", "x"), ("no_such_role", "whatever"),
        ];
        var answers = new Dictionary<string, string>();
        foreach (var (user, password) in cases)
        {
            var direct = Answer(await t.DirectAsync(user, password));
            var through = Answer(await PreauthCluster.PsqlAsync(t.ReadWritePort, user, password, sql: "select current_user"));
            Assert.True(direct == through, $"{user} with {password}: direct \"{direct}\", through conmgr \"{through}\"");
            answers[$"{user}/{password}"] = through;
        }

        // And the answers are the ones these rules mean, not one failure shared by both paths.
        Assert.Equal("app", answers[$"app/{PreauthCluster.Password}"]);
        Assert.Equal("app_md5", answers[$"app_md5/{PreauthCluster.Password}"]);
        Assert.Equal("app_member", answers[$"app_member/{PreauthCluster.Password}"]);
        Assert.Equal("app_other", answers[$"app_other/{PreauthCluster.Password}"]);
        Assert.Equal("FATAL:  password authentication failed for user \"app_other\"", answers["app_other/wrong"]);
        Assert.Equal("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"blocked\", database \"postgres\", no encryption", answers["blocked/x"]);
        Assert.Equal("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app_nologin\", database \"postgres\", no encryption", answers[$"app_nologin/{PreauthCluster.Password}"]);
    }

    [Fact]
    public async Task A_password_changed_between_the_lookup_and_the_login_fails_only_that_client_with_the_servers_error()
    {
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\n");
        using var wire = await PgWire.ConnectAsync("127.0.0.1", t.ReadWritePort);
        await wire.SendAsync(PgWire.StartupMessage(("user", "app"), ("database", "postgres")));
        var scram = new ScramClient(wire, PreauthCluster.Password);
        Assert.True(await scram.StartAsync(TransparentCluster.Deadline), $"SCRAM did not start: {scram.Last?.Type}");

        // conmgr has the old secret; the server gets a new one before the client's proof arrives.
        await t.Primary.ExecuteAsync("alter role app password 'battery staple'");
        var answer = await scram.FinishAsync(TransparentCluster.Deadline);

        Assert.Equal('E', answer?.Type);
        Assert.Equal("28P01", answer!.Fields['C']);
        Assert.Equal("password authentication failed for user \"app\"", answer.Fields['M']);
        await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("refused conmgr's login of user \"app\"", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's log of the server's refusal");

        // Nobody else is locked out: the new password logs in at once.
        var fresh = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", "battery staple");
        Assert.True(fresh.ExitCode == 0 && fresh.StandardOutput.Trim() == "app|f", fresh.Output);
    }

    [Fact]
    public async Task The_watchdogs_role_list_decides_whose_secret_is_handed_out_and_no_secret_shows_in_conmgrs_log_status_or_metrics()
    {
        var http = FreePort.Next();
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\n", $"http_port = {http}\n", serverSettings: ["watchdog.auth_lookup_roles = '+app_group, app_other'"]);

        var member = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_member");
        Assert.True(member.ExitCode == 0 && member.StandardOutput.Trim() == "app_member|f", member.Output);
        var listed = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app_other");
        Assert.True(listed.ExitCode == 0, listed.Output);
        Assert.Contains("FATAL:  password authentication failed for user \"app\"", (await PreauthCluster.PsqlAsync(t.ReadWritePort, "app")).Output, StringComparison.Ordinal);
        await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("The watchdog does not hand out the secret of \"app\"", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's reason");
        await Poll.UntilAsync(async () => (await File.ReadAllTextAsync(t.Primary.LogFile)).Contains("lookup of role \"app\" refused by policy: not in watchdog.auth_lookup_roles", StringComparison.Ordinal), TransparentCluster.Deadline, "the watchdog's refusal line");

        // The keys of every secret that crossed the link, in any form conmgr reports.
        var secrets = await t.Primary.ScalarAsync<string>("select string_agg(rolpassword, ' ') from pg_authid where rolname in ('app_member', 'app_other', 'app')");
        var keys = KeyPattern().Matches(secrets).Select(m => m.Value).ToArray();
        Assert.NotEmpty(keys);
        using var client = new HttpClient();
        var reported = string.Join(
            "\n",
            t.Cluster.Node.Log,
            await client.GetStringAsync($"http://127.0.0.1:{http.ToString(CultureInfo.InvariantCulture)}/metrics"),
            await client.GetStringAsync($"http://127.0.0.1:{http.ToString(CultureInfo.InvariantCulture)}/status"),
            (await t.Cluster.Node.CtlAsync("status")).Output,
            (await t.Cluster.Node.CtlAsync("status", "-i", "instance")).Output,
            (await t.Cluster.Node.CtlAsync("status", "-i", "application")).Output);
        foreach (var key in keys)
        {
            Assert.DoesNotContain(key, reported, StringComparison.Ordinal);
        }
    }

    /// <summary>psql's answer: the FATAL line, or the current user.</summary>
    private static string Answer(ProcessResult run) =>
        run.ExitCode == 0 ? run.StandardOutput.Trim() : FatalLine().Match(run.Output) is { Success: true } m ? m.Value.Trim() : run.Output.Trim();

    [GeneratedRegex("FATAL:  .*")]
    private static partial Regex FatalLine();

    /// <summary>The salt, StoredKey and ServerKey of a SCRAM secret (base64, long enough to be unique).</summary>
    [GeneratedRegex("[A-Za-z0-9+/]{20,}={0,2}")]
    private static partial Regex KeyPattern();
}
