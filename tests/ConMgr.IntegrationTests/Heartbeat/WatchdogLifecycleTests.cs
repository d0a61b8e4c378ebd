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

    [Theory]
    [InlineData(new string[0], "give exactly one of -D DATADIR or -d CONNSTRING")]
    [InlineData(new[] { "-D", "/x", "-d", "Host=y" }, "give exactly one of -D DATADIR or -d CONNSTRING")]
    [InlineData(new[] { "-p", "0", "-D", "/x" }, "invalid port")]
    [InlineData(new[] { "--frobnicate" }, "invalid argument: \"--frobnicate\"")]
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
