// HeartbeatStateTests.cs: conmgr's instance table follows the real cluster: up, roles, promote, watchdog death, frozen host.
using System.Diagnostics;
using ConMgr.Hosting.Posix;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

[Collection(TimingSensitive.Name)]
public sealed class HeartbeatStateTests
{
    private static Task<PgCluster> ClusterAsync(WatchdogMode mode = WatchdogMode.Launcher, int standbys = 1) =>
        PgCluster.StartAsync(new PgClusterOptions { Standbys = standbys, Watchdog = mode, CheckAttrIntervalMs = CheckAttrIntervalMs });

    [Fact]
    public async Task Start_waits_for_the_primary_and_both_links_come_up_with_correct_attributes()
    {
        await using var cluster = await ClusterAsync();
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));

        var start = await node.CtlAsync("start", "--complete");

        Assert.Equal(0, start.ExitCode);
        Assert.Contains("conmgr started", start.StandardOutput, StringComparison.Ordinal);
        var instances = (await node.StatusAsync()).Instances;
        Assert.Equal(("up", "primary", false, 1), (instances[0].Heartbeat, instances[0].Role, instances[0].ReadOnly, instances[0].Timeline));
        Assert.Equal(("up", "standby", false, 1), (instances[1].Heartbeat, instances[1].Role, instances[1].ReadOnly, instances[1].Timeline));
        Assert.Equal(0, instances[1].ReplayLagMs);
        await node.WaitInstanceAsync(0, i => i.LastRttMs is > 0, Deadline, "a measured round-trip time");

        var status = await node.CtlAsync("status", "-i", "instance");
        Assert.Matches(@"\n 0 +\| 127\.0\.0\.1 +\| \d+ +\| \d+ +\| up +\| primary +\| off +\| 1 ", status.StandardOutput);
        Assert.Matches(@"\n 1 +\| 127\.0\.0\.1 +\| \d+ +\| \d+ +\| up +\| standby +\| off +\| 1 +\| 0 ", status.StandardOutput);
    }

    [Fact]
    public async Task Default_transaction_read_only_on_the_primary_is_reported()
    {
        await using var cluster = await ClusterAsync(standbys: 0);
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link");

        await cluster.Primary.ExecuteAsync("alter system set default_transaction_read_only = on; select pg_reload_conf()");

        await node.WaitInstanceAsync(0, i => i.ReadOnly == true && i.Role == "primary", Deadline, "read_only to be reported");
    }

    [Fact]
    public async Task Promote_is_seen_within_check_attr_interval_plus_500ms()
    {
        await using var cluster = await ClusterAsync();
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(1, i => i.Heartbeat == "up" && i.Role == "standby", Deadline, "the standby's link");

        await cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");
        var seen = await node.WaitInstanceAsync(1, i => i.Role == "primary", Deadline, "conmgr to see the promotion");

        Assert.True(seen <= TimeSpan.FromMilliseconds(CheckAttrIntervalMs + 500), $"promotion seen after {seen.TotalMilliseconds:0} ms");
        await node.WaitInstanceAsync(1, i => i.Timeline == 2, Deadline, "the new timeline");

        // The table is updated before the LOG line is written: poll for the line.
        await Poll.UntilAsync(() => node.Log.Contains("is now primary, timeline 2", StringComparison.Ordinal), Deadline, "the role-change LOG line");
        Assert.Contains("instance 1 (127.0.0.1:", node.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killed_watchdog_that_stays_dead_is_marked_down_within_the_timeout_and_comes_back()
    {
        await using var cluster = await ClusterAsync(WatchdogMode.Standalone, standbys: 0);
        var watchdog = await cluster.Primary.StartStandaloneWatchdogAsync();
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link");

        // No Goodbye, the host answers: interrupted at once, still a primary; down when no watchdog came back within the timeout.
        watchdog.Signal(Libc.SIGKILL);
        var watch = Stopwatch.StartNew();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "interrupted" && i.Role == "primary", Deadline, "conmgr to mark the link interrupted");
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "down", Deadline, "conmgr to mark the instance down");
        var down = watch.Elapsed;

        Assert.True(down <= ConmgrDetectionBound, $"down after {down.TotalMilliseconds:0} ms");
        Assert.True(down >= HeartbeatTimeout - Interval - TimeSpan.FromMilliseconds(100), $"down after only {down.TotalMilliseconds:0} ms: the watchdog was given no time to come back");
        var row = (await node.StatusAsync()).Instances[0];
        Assert.Equal("unknown", row.Role);
        Assert.Contains("no watchdog answered within heartbeat_timeout", row.LastError, StringComparison.Ordinal);

        await cluster.Primary.StartStandaloneWatchdogAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the link to come back");
    }

    [Fact]
    public async Task Frozen_host_is_marked_down_within_the_timeout()
    {
        await using var cluster = await ClusterAsync(standbys: 0);
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link");

        // SIGSTOP the postmaster and all its children: the launcher and cm_watchdog stop too, sockets stay open.
        var watch = Stopwatch.StartNew();
        cluster.Primary.Freeze();
        try
        {
            await node.WaitInstanceAsync(0, i => i.Heartbeat != "up", Deadline, "conmgr to mark the frozen instance down");
            var down = watch.Elapsed;
            Assert.True(down <= ConmgrDetectionBound, $"down after {down.TotalMilliseconds:0} ms");
            Assert.True(down >= HeartbeatTimeout - TimeSpan.FromMilliseconds(100), $"down after only {down.TotalMilliseconds:0} ms: not a timeout");
            await Poll.UntilAsync(() => node.Log.Contains("lost: no heartbeat received for 1 s", StringComparison.Ordinal), Deadline, "the loss LOG line");
        }
        finally
        {
            cluster.Primary.Thaw();
        }

        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link to come back after thaw");
    }
}
