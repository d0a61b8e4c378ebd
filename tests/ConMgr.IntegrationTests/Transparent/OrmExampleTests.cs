// OrmExampleTests.cs: the EF Core and Dapper example applications run against a real cluster, with a failover in the middle of a retried unit of work.
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Transparent;

// Beside the other parallel tests: nothing here is timed (the retry budget is the examples' own, 15
// attempts), and alone these four took a minute of the serial part of the suite.
public sealed class OrmExampleTests
{
    /// <summary>The read/write split: units commit on the primary, and the read (prefer-standby) sees all of them on the standby.</summary>
    [Theory]
    [InlineData("cm_example_efcore")]
    [InlineData("cm_example_dapper")]
    public async Task Example_writes_on_the_primary_and_reads_its_writes_on_the_standby(string example)
    {
        await using var t = await TransparentCluster.StartAsync();

        var run = (await ProcessRunner.RunAsync(RepoPaths.Executable(example), [t.ConMgrHost, "postgres", "3"], timeout: TimeSpan.FromMinutes(1))).EnsureSuccess(example);

        for (var unit = 1; unit <= 3; unit++)
        {
            Assert.Contains($"unit {unit} committed on port {t.Cluster.Primary.Port} after 1 attempt(s)", run.StandardOutput, StringComparison.Ordinal);
        }

        Assert.Contains($"read 3 order(s) on port {t.Cluster.Standbys[0].Port}", run.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>
    /// Unit 1 commits on the primary. Unit 2's first attempt holds its transaction open; the
    /// primary then dies and the standby is promoted. The attempt fails as a transient error,
    /// the retry waits while conmgr has no read-write instance, then commits on the new primary;
    /// unit 3 goes straight there. Every unit is in the table exactly once (the column is unique).
    /// </summary>
    [Theory]
    [InlineData("cm_example_efcore", "cm_efcore_orders")]
    [InlineData("cm_example_dapper", "cm_dapper_orders")]
    public async Task Example_retries_a_unit_of_work_through_a_failover_and_commits_it_once_on_the_new_primary(string example, string table)
    {
        await using var t = await TransparentCluster.StartAsync();
        var (primary, standby) = (t.Cluster.Primary, t.Cluster.Standbys[0]);
        var log = Path.Combine(t.Node.Directory, $"{example}.log");
        await using var application = BackgroundProcess.Start(RepoPaths.Executable(example), [t.ConMgrHost, "postgres", "3", "2"], null, log);

        await Poll.UntilAsync(() => application.Log.Contains("unit 2 in flight", StringComparison.Ordinal), TransparentCluster.Deadline, "unit 2 in flight");
        await Poll.UntilAsync(async () => await primary.ScalarAsync<long>("select count(*) from pg_stat_activity where query like '%pg_sleep(60)%' and state = 'active' and pid <> pg_backend_pid()") == 1, TransparentCluster.Deadline, "unit 2's transaction open on the primary");
        await t.Cluster.WaitForReplayAsync(standby);

        await primary.StopAsync("immediate");
        await standby.ExecuteAsync("select pg_promote(wait => true)");

        var exit = await application.WaitForExitAsync(TimeSpan.FromSeconds(90));
        var output = application.Log;
        Assert.True(exit == 0, $"exit {exit}:\n{output}");
        Assert.Contains($"unit 1 committed on port {primary.Port} after 1 attempt(s)", output, StringComparison.Ordinal);
        Assert.Matches($@"unit 2 committed on port {standby.Port} after ([2-9]|1[0-9]) attempt\(s\)", output);
        Assert.Contains($"unit 3 committed on port {standby.Port} after 1 attempt(s)", output, StringComparison.Ordinal);
        Assert.Contains($"read 3 order(s) on port {standby.Port}", output, StringComparison.Ordinal);
        Assert.Equal("1,2,3", await standby.ScalarAsync<string>($"select string_agg(unit::text, ',' order by unit) from {table}"));
    }
}
