// PreauthAdmissionTests.cs: preauth = on: conmgr_hba.conf admits or refuses proxy clients before a server connection is opened, and a bad reload keeps the rules.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Preauth;

public sealed class PreauthAdmissionTests
{
    [Fact]
    public async Task A_client_with_no_matching_line_or_a_reject_line_gets_postgresqls_28000_and_costs_no_backend_and_a_bad_reload_keeps_the_rules()
    {
        await using var t = await PreauthCluster.StartAsync("# preauth test\nhost all \"blocked\" 127.0.0.1/32 reject\nhost postgres postgres 127.0.0.0/8 trust\n");
        await t.Primary.ExecuteAsync("create role blocked login; create role other login");

        // Admitted by trust: the server authenticates as before (trust in the fixture's pg_hba.conf).
        Assert.Equal("postgres", await CurrentUserAsync(t, "postgres", "postgres"));

        // Refused at conmgr: the server would have let both in (trust), so the message is conmgr's.
        var backends = await t.BackendsAsync();
        Assert.Contains("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"blocked\", database \"postgres\", no encryption", await CurrentUserAsync(t, "blocked", "postgres"), StringComparison.Ordinal);
        Assert.Contains("FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"other\", database \"other\", no encryption", await CurrentUserAsync(t, "other", "other"), StringComparison.Ordinal);
        Assert.Equal(backends, await t.BackendsAsync());

        // A bad file on SIGHUP: logged with its line, the rules in force stay.
        await File.WriteAllTextAsync(t.HbaFile, "host all all 127.0.0.1/32 trust\nhots all all 127.0.0.1/32 trust\n");
        await t.Tls.ReloadAsync(null, null, $"{t.HbaFile}:2: invalid connection type \"hots\"");
        Assert.Contains("was not reloaded", t.Cluster.Node.Log, StringComparison.Ordinal);
        Assert.Contains("pg_hba.conf rejects connection", await CurrentUserAsync(t, "blocked", "postgres"), StringComparison.Ordinal);

        // A good one replaces them whole.
        await File.WriteAllTextAsync(t.HbaFile, "host all all 127.0.0.1/32 trust\n");
        await t.Tls.ReloadAsync(null, null, $"reloaded \"{t.HbaFile}\"");
        Assert.Equal("blocked", await CurrentUserAsync(t, "blocked", "postgres"));
    }

    /// <summary>psql's current_user through the read-write port, or its error output.</summary>
    private static async Task<string> CurrentUserAsync(PreauthCluster t, string user, string database)
    {
        var run = await Tls.TlsCluster.PsqlAsync($"host=127.0.0.1 port={t.ReadWritePort} user={user} dbname={database} sslmode=disable connect_timeout=10", "select current_user");
        return run.ExitCode == 0 ? run.StandardOutput.Trim() : run.Output;
    }
}
