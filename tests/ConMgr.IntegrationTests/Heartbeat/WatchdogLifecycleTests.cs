// WatchdogLifecycleTests.cs: cm_watchdog survives its instance restarting, reporting it unavailable meanwhile; refuses root and bad arguments.
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

public sealed class WatchdogLifecycleTests
{
    [Fact]
    public async Task Instance_restart_is_reported_as_unavailable_then_primary_again_over_the_same_link()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Standalone, CheckAttrIntervalMs = CheckAttrIntervalMs });
        var watchdog = await cluster.Primary.StartStandaloneWatchdogAsync();
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the link");
        var linkSince = (await node.StatusAsync()).Instances[0].Since;

        await cluster.Primary.StopAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "unknown", Deadline, "the instance to be reported unavailable");
        await cluster.Primary.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the instance to be primary again");

        Assert.False(watchdog.HasExited);
        Assert.DoesNotContain(" lost:", node.Log, StringComparison.Ordinal);
        Assert.Contains("instance unavailable", watchdog.Log, StringComparison.Ordinal);
        Assert.True((await node.StatusAsync()).Instances[0].Since > linkSince, "a role change moves 'since'");
    }

    [Fact]
    public async Task Connection_string_mode_serves_a_remote_instance()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Standalone, CheckAttrIntervalMs = CheckAttrIntervalMs });
        var standby = cluster.Standbys[0];
        await using var watchdog = BackgroundProcess.Start(
            RepoPaths.Executable("cm_watchdog"),
            ["-d", standby.TcpConnectionString(), "--log-min-messages", "log"],
            RunAs.Postgres,
            Path.Combine(cluster.Directory, "remote-watchdog.log"));
        await Poll.UntilAsync(() => watchdog.Log.Contains(" ready on port ", StringComparison.Ordinal), Deadline, "the remote-mode watchdog");
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.SecretLine(cluster) + $"backend_hostaddr0 = '{standby.Host}'\nbackend_port0 = {standby.Port}\nwatchdog_port0 = {standby.WatchdogPort}\n");

        await node.StartAsync();

        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "standby", Deadline, "the link through the remote-mode watchdog");
        Assert.Contains($"for \"Host={standby.Host};Port={standby.Port}", watchdog.Log, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(standby.DataDirectory, "pg_stat_tmp", "watchdog.status")), "no status file without -D");

        // The watchdog's own sessions come from 127.0.0.1 too: losing that conmgr must not kill them.
        const string Checker = "select pid from pg_stat_activity where application_name = 'cm_watchdog attribute checker'";
        var checkerPid = await standby.ScalarAsync<int>(Checker);
        ConMgr.Hosting.Posix.Libc.Kill(node.Pid!.Value, ConMgr.Hosting.Posix.Libc.SIGKILL);
        await Poll.UntilAsync(() => watchdog.Log.Contains("session(s) from 127.0.0.1", StringComparison.Ordinal), Deadline, "the terminator to run");
        Assert.Equal(checkerPid, await standby.ScalarAsync<int>(Checker));
        Assert.DoesNotContain("instance unavailable", watchdog.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "give exactly one of -D DATADIR or -d CONNSTRING")]
    [InlineData(new[] { "-D", "/x", "-d", "Host=y" }, "give exactly one of -D DATADIR or -d CONNSTRING")]
    [InlineData(new[] { "-p", "0", "-D", "/x" }, "invalid port")]
    [InlineData(new[] { "--frobnicate" }, "invalid argument: \"--frobnicate\"")]
    [InlineData(new[] { "-d", "Host=y;Password=hunter2" }, "-d must not hold a password: every local user can read it in ps; put it in PGPASSWORD or a password file")]
    public async Task Bad_arguments_are_refused(string[] args, string message)
    {
        var result = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_watchdog"), args, RunAs.Postgres);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Root_is_refused()
    {
        var result = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_watchdog"), ["-D", "/tmp"], RunAs.Self);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("cm_watchdog: cannot be run as root", result.StandardError, StringComparison.Ordinal);
    }
}
