// LinkCutTests.cs: psql mid-query on either port hears of its instance's cut link within the heartbeat timeout; the read-write port follows the failover; a silent backend port costs only the connect timeout.
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
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(1, TransparentCluster.CheckAttrIntervalMs));
        var (rw, ro) = (FreePort.Next(), FreePort.Next());
        await using var node = await StartConMgrAsync(link, cluster, rw, ro);
        var clientHost = ClientHost(link);

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

    [Fact]
    public async Task A_port_whose_instance_does_not_answer_connect_gives_up_after_its_connect_timeout_and_tries_the_next_instance()
    {
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(1, TransparentCluster.CheckAttrIntervalMs));
        var (rw, ro) = (FreePort.Next(), FreePort.Next());
        await using var node = await StartConMgrAsync(link, cluster, rw, ro, "read_write_connect_timeout = 1s\nread_only_connect_timeout = 1s\n");
        var (primary, standby) = (cluster.Primary, cluster.Standbys[0]);

        // The primary's PostgreSQL port swallows SYNs while its watchdog's heartbeat goes on: it stays eligible, and unreachable.
        await link.CutPortsAsync(primary.Port);
        var watch = Stopwatch.StartNew();
        var refused = await ProcessRunner.RunAsync("psql", [.. PsqlArgs(rw), "-c", "select 1"], ClientHost(link), TransparentCluster.Deadline);
        var elapsed = watch.Elapsed;
        Assert.NotEqual(0, refused.ExitCode);
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(5));
        Assert.Contains("conmgr's read-write port could not connect to any eligible instance", refused.Output, StringComparison.Ordinal);
        Assert.Contains($"timeout expired after 1s connecting to {NetworkLink.ServerAddress}:{primary.Port.ToString(CultureInfo.InvariantCulture)}", refused.Output, StringComparison.Ordinal);

        // The standby's port instead: the read-only port waits its timeout on the standby, then falls back to the primary.
        await link.RestoreAsync();
        await link.CutPortsAsync(standby.Port);
        watch.Restart();
        var fellBack = await ProcessRunner.RunAsync("psql", [.. PsqlArgs(ro), "-At", "-c", "select inet_server_port(), pg_is_in_recovery(), current_setting('transaction_read_only')"], ClientHost(link), TransparentCluster.Deadline);
        elapsed = watch.Elapsed;
        Assert.True(fellBack.ExitCode == 0, fellBack.Output);
        Assert.Equal($"{primary.Port.ToString(CultureInfo.InvariantCulture)}|f|on", fellBack.StandardOutput.Trim());
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(5));
    }

    private static RunAs ClientHost(NetworkLink link) => new("postgres", link.ClientNamespace);

    /// <summary>conmgr with both ports on the client host's loopback, watching the cluster on the server host across the link; every link up.</summary>
    private static async Task<ConMgrNode> StartConMgrAsync(NetworkLink link, PgCluster cluster, int rw, int ro, string extraLines = "")
    {
        var node = await ConMgrNode.CreateAsync(
            $"heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\nlisten_addresses = '127.0.0.1'\nread_write_port = {rw}\nread_only_port = {ro}\n{extraLines}" + ConMgrNode.InstanceLines(cluster),
            ClientHost(link));
        try
        {
            await node.StartAsync();
            for (var i = 0; i <= cluster.Standbys.Count; i++)
            {
                await node.WaitInstanceAsync(i, s => s.Heartbeat == "up" && s.Role != "unknown", TransparentCluster.Deadline, $"instance {i}'s link");
            }

            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
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
