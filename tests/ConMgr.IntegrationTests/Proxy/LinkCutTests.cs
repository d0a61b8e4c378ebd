// LinkCutTests.cs: psql mid-query on either port hears of its instance's cut link within the heartbeat timeout; the read-write port follows the failover.
using System.Diagnostics;
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class LinkCutTests
{
    /// <summary>heartbeat_timeout (1 s) plus the margin.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromMilliseconds(1200);

    [Fact]
    public async Task Psql_on_each_port_fails_within_the_heartbeat_timeout_when_its_instances_link_is_cut_and_the_read_write_port_then_lands_on_the_new_primary()
    {
        // The cluster on a "server host" namespace, conmgr and psql on a "client host" namespace, a veth link between.
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(1, TransparentCluster.CheckAttrIntervalMs));
        var clientHost = new RunAs("postgres", link.ClientNamespace);
        var rw = FreePort.Next();
        var ro = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync(
            $"heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\nlisten_addresses = '127.0.0.1'\nread_write_port = {rw}\nread_only_port = {ro}\n" + ConMgrNode.InstanceLines(cluster),
            clientHost);
        await node.StartAsync();
        for (var i = 0; i < 2; i++)
        {
            await node.WaitInstanceAsync(i, s => s.Heartbeat == "up" && s.Role != "unknown", TransparentCluster.Deadline, $"instance {i}'s link");
        }

        var (primary, standby) = (cluster.Primary, cluster.Standbys[0]);
        await using var onPrimary = StartPsql(node, clientHost, rw, "psql-rw.log");
        await using var onStandby = StartPsql(node, clientHost, ro, "psql-ro.log");
        await WaitSleepingAsync(primary);
        await WaitSleepingAsync(standby);

        // The standby's host goes silent: its session fails fast, the primary's goes on.
        await AssertFailsFastAsync(() => link.CutPortsAsync(standby.Port, standby.WatchdogPort), onStandby, "conmgr lost the heartbeat of instance 1");
        Assert.False(onPrimary.HasExited, "the read-write session ended with the standby's link: " + onPrimary.Log);

        await link.RestoreAsync();
        await node.WaitInstanceAsync(1, s => s.Heartbeat == "up", TransparentCluster.Deadline, "the standby's link back");

        // Then the primary's.
        await AssertFailsFastAsync(() => link.CutPortsAsync(primary.Port, primary.WatchdogPort), onPrimary, "conmgr lost the heartbeat of instance 0");

        await standby.PromoteAsync();
        await node.WaitInstanceAsync(1, s => s.Role == "primary", TransparentCluster.Deadline, "the promotion");
        var next = await ProcessRunner.RunAsync("psql", [.. PsqlArgs(rw), "-At", "-c", "select inet_server_port(), pg_is_in_recovery()"], clientHost, TimeSpan.FromSeconds(30));
        Assert.True(next.ExitCode == 0, next.Output);
        Assert.Equal($"{standby.Port.ToString(CultureInfo.InvariantCulture)}|f", next.StandardOutput.Trim());
    }

    private static async Task AssertFailsFastAsync(Func<Task> cut, BackgroundProcess psql, string expected)
    {
        await cut();
        var watch = Stopwatch.StartNew();
        Assert.NotEqual(0, await psql.WaitForExitAsync(TransparentCluster.Deadline));
        var elapsed = watch.Elapsed;
        Assert.True(elapsed <= Bound, $"psql ended {elapsed.TotalMilliseconds:0} ms after the cut: {psql.Log}");
        Assert.Contains(expected, psql.Log, StringComparison.Ordinal);
        Assert.Contains("57P01", psql.Log, StringComparison.Ordinal);
    }

    private static string[] PsqlArgs(int port) => ["-X", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres"];

    private static BackgroundProcess StartPsql(ConMgrNode node, RunAs clientHost, int port, string logName) =>
        BackgroundProcess.Start("psql", [.. PsqlArgs(port), "-v", "VERBOSITY=verbose", "-c", "select pg_sleep(600)"], clientHost, Path.Combine(node.Directory, logName));

    private static Task<TimeSpan> WaitSleepingAsync(PgInstance instance) =>
        Poll.UntilAsync(async () => await instance.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(600)' and state = 'active'") == 1, TransparentCluster.Deadline, $"psql's query on {instance.Name}");
}
