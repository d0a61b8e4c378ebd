// SystemdNotifyTests.cs: conmgr and a standalone cm_watchdog as Type=notify services: READY=1 when cm_ctl start would return, RELOADING=1 on SIGHUP, STOPPING=1 at shutdown.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.CmCtl;

public sealed class SystemdNotifyTests
{
    [Fact]
    public async Task Conmgr_sends_ready_only_once_the_primarys_heartbeat_is_up_then_reloading_and_stopping()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = TransparentCluster.CheckAttrIntervalMs });
        await cluster.Primary.StopAsync();
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 200ms\nlog_min_messages = log\n" + ConMgrNode.InstanceLines(cluster));
        using var systemd = new FakeNotifySocket(node.Directory);
        node.Environment["NOTIFY_SOCKET"] = systemd.Path;

        // Listening, the standby up, the primary down: conmgr says how it is, but not READY=1.
        await node.StartAsync();
        await node.WaitInstanceAsync(1, s => s.Heartbeat == "up", TransparentCluster.Deadline, "the standby's link");
        await systemd.WaitForAsync("STATUS=no primary; 1 of 2 instance(s) with heartbeat up", TransparentCluster.Deadline);
        Assert.DoesNotContain(systemd.Received, r => FakeNotifySocket.Lines(r.Message).Contains("READY=1"));

        await cluster.Primary.StartAsync();
        var ready = await systemd.WaitForAsync("READY=1", TransparentCluster.Deadline);
        var primary = (await node.StatusAsync()).Instances[0];
        Assert.Equal(("up", "primary"), (primary.Heartbeat, primary.Role));
        Assert.True(primary.Since <= ready, $"READY=1 at {ready:O}, before the primary's heartbeat came up at {primary.Since:O}");
        Assert.Contains(systemd.Received, r => r.Message == "READY=1\nSTATUS=primary: instance 0; 2 of 2 instance(s) with heartbeat up");

        (await node.CtlAsync("reload")).EnsureSuccess("cm_ctl reload");
        await systemd.WaitForAsync("RELOADING=1", TransparentCluster.Deadline);
        await Poll.UntilAsync(() => systemd.Received.Count(r => FakeNotifySocket.Lines(r.Message).Contains("READY=1")) == 2, TransparentCluster.Deadline, "READY=1 after the reload");

        (await node.CtlAsync("stop", "-m", "fast")).EnsureSuccess("cm_ctl stop");
        Assert.Contains(systemd.Received, r => r.Message == "STOPPING=1\nSTATUS=fast shutdown");
    }

    [Fact]
    public async Task A_standalone_watchdog_sends_ready_once_it_listens_and_stopping_when_it_ends()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0 });
        var primary = cluster.Primary;
        using var systemd = new FakeNotifySocket(cluster.Directory);
        var port = FreePort.Next();
        await using var watchdog = BackgroundProcess.Start(
            RepoPaths.Executable("cm_watchdog"),
            ["-D", primary.DataDirectory, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--log-min-messages", "log"],
            primary.RunAs,
            primary.WatchdogLogFile,
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = systemd.Path });

        await systemd.WaitForAsync("READY=1", TransparentCluster.Deadline);
        // The line is written by the log's own thread, so it may reach the file just after READY=1 left.
        await Poll.UntilAsync(() => watchdog.Log.Contains("ready on port", StringComparison.Ordinal), TransparentCluster.Deadline, "the watchdog's ready line");
        watchdog.Signal(Hosting.Posix.Libc.SIGTERM);
        Assert.Equal(0, await watchdog.WaitForExitAsync(TransparentCluster.Deadline));
        Assert.Contains(systemd.Received, r => r.Message == "STOPPING=1\nSTATUS=shutting down");
    }
}
