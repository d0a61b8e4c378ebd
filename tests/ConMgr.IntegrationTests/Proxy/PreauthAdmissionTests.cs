// PreauthAdmissionTests.cs: preauth = on: conmgr_hba.conf admits or refuses proxy clients before a server connection is opened, and a bad reload keeps the rules.
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class PreauthAdmissionTests
{
    [Fact]
    public async Task A_client_with_no_matching_line_or_a_reject_line_gets_postgresqls_28000_and_costs_no_backend_and_a_bad_reload_keeps_the_rules()
    {
        var directory = Path.Combine(PgCluster.TestRoot, $"{Environment.ProcessId}-hba-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, StaleClusters.OwnerFile), StaleClusters.OwnerStamp());
        File.SetUnixFileMode(directory, (UnixFileMode)Convert.ToInt32("755", 8));
        var hba = Path.Combine(directory, "conmgr_hba.conf");
        await File.WriteAllTextAsync(hba, "# preauth test\nhost all \"blocked\" 127.0.0.1/32 reject\nhost postgres postgres 127.0.0.0/8 trust\n");
        File.SetUnixFileMode(hba, (UnixFileMode)Convert.ToInt32("644", 8));
        try
        {
            var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0, extraConmgrLines: $"preauth = on\nhba_file = '{hba}'\n");
            await using var _ = t;
            await t.Cluster.Primary.ExecuteAsync("create role blocked login; create role other login");

            // Admitted: the server authenticates as before (trust in the fixture's pg_hba.conf).
            Assert.Equal("postgres", await PsqlAsync(rw, "postgres", "postgres"));

            // Refused at conmgr: the server would have let both in (trust), so the message is conmgr's.
            var backends = await t.Cluster.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where backend_type = 'client backend'");
            Assert.Contains("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"blocked\", database \"postgres\", no encryption", await PsqlAsync(rw, "blocked", "postgres"), StringComparison.Ordinal);
            Assert.Contains("FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"other\", database \"other\", no encryption", await PsqlAsync(rw, "other", null), StringComparison.Ordinal);
            var connections = await t.Cluster.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where backend_type = 'client backend'");
            Assert.Equal(backends, connections);

            // A bad file on SIGHUP: logged with its line, the rules in force stay.
            await File.WriteAllTextAsync(hba, "host all all 127.0.0.1/32 trust\nhots all all 127.0.0.1/32 trust\n");
            (await t.Node.CtlAsync("reload")).EnsureSuccess("cm_ctl reload");
            await Poll.UntilAsync(() => t.Node.Log.Contains($"{hba}:2: invalid connection type \"hots\"", StringComparison.Ordinal), TransparentCluster.Deadline, "the bad file to be logged");
            Assert.Contains("was not reloaded", t.Node.Log, StringComparison.Ordinal);
            Assert.Contains("pg_hba.conf rejects connection", await PsqlAsync(rw, "blocked", "postgres"), StringComparison.Ordinal);

            // A good one replaces them whole.
            await File.WriteAllTextAsync(hba, "host all all 127.0.0.1/32 trust\n");
            (await t.Node.CtlAsync("reload")).EnsureSuccess("cm_ctl reload");
            await Poll.UntilAsync(() => t.Node.Log.Contains($"reloaded \"{hba}\"", StringComparison.Ordinal), TransparentCluster.Deadline, "the good file to be loaded");
            Assert.Equal("blocked", await PsqlAsync(rw, "blocked", "postgres"));
        }
        finally
        {
            StaleClusters.RemoveDirectory(directory);
        }
    }

    /// <summary>psql's current_user through the port, or its error output.</summary>
    private static async Task<string> PsqlAsync(int port, string user, string? database)
    {
        string[] target = database is null ? [] : ["-d", database];
        var run = await ProcessRunner.RunAsync("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", user, .. target, "-c", "select current_user"], RunAs.Self);
        return run.ExitCode == 0 ? run.StandardOutput.Trim() : run.Output;
    }
}
