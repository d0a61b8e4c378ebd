// SplitBrainTests.cs: two primaries on one timeline stop read-write routing until one is left; another cluster's instance is never chosen.
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

public sealed class SplitBrainTests
{
    [Fact]
    public async Task Two_promoted_standbys_get_no_read_write_connection_until_one_stops()
    {
        // WARNING lines are shown at log_min_messages = warning (in PostgreSQL's order, LOG outranks WARNING).
        await using var t = await TransparentCluster.StartAsync(standbys: 2, logMinMessages: "warning");
        await t.Cluster.Primary.StopAsync();
        await t.Node.WaitInstanceAsync(0, s => s.Heartbeat == "down", TransparentCluster.Deadline, "the old primary to be down");
        await using var standbyReader = await t.DataSource("standby").OpenConnectionAsync();

        await t.Cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");
        await t.Cluster.Standbys[1].ExecuteAsync("select pg_promote(wait => true)");
        await t.Node.WaitInstanceAsync(1, s => s.Role == "contested primary" && s.Timeline == 2, TransparentCluster.Deadline, "instance 1 contested");
        await t.Node.WaitInstanceAsync(2, s => s.Role == "contested primary" && s.Timeline == 2, TransparentCluster.Deadline, "instance 2 contested");

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await t.DataSource("read-write").OpenConnectionAsync());
        Assert.Contains("08001", error.Message, StringComparison.Ordinal);
        Assert.Contains("instances 1 and 2 are all primaries on timeline 2", error.Message, StringComparison.Ordinal);
        var status = (await t.Node.StatusAsync()).Instances;
        Assert.All(status.Skip(1), s => Assert.Contains("split brain", s.Excluded, StringComparison.Ordinal));
        await Poll.UntilAsync(() => t.Node.Log.Contains("WARNING:  split brain: instances instance 1", StringComparison.Ordinal), TransparentCluster.Deadline, "the WARNING line");

        // The connection to the standby that became a contested primary was told.
        await Poll.UntilAsync(() => standbyReader.GetConMgrChannel()!.Lost.IsCancellationRequested, TransparentCluster.Deadline, "the standby session to be told");

        await t.Cluster.Standbys[1].StopAsync();
        await t.Node.WaitInstanceAsync(1, s => s.Role == "primary" && s.Excluded == null, TransparentCluster.Deadline, "instance 1 to be the one primary");
        await using var writer = await t.DataSource("read-write").OpenConnectionAsync();
        Assert.Equal(t.Cluster.Standbys[0].Name, t.InstanceOf(writer).Name);
    }

    [Fact]
    public async Task An_instance_of_another_cluster_is_never_chosen_and_status_says_why()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 1);
        // Its watchdog shares the cluster's secret (an operator copied it): what conmgr must catch here is the other system identifier.
        await using var stranger = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, FreshInitdb = true, ExtraSettings = [$"watchdog.secret_file = '{t.Cluster.HeartbeatSecretFile}'"] });
        var foreign = stranger.Primary;
        await t.Node.CtlAsync("stop", "-m", "fast");
        await t.Node.WriteConfigurationAsync(
            $"port = {t.Node.Port.ToString(CultureInfo.InvariantCulture)}\n"
            + "heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 200ms\nlog_min_messages = warning\n"
            + ConMgrNode.InstanceLines(t.Cluster)
            + $"backend_hostaddr2 = '{foreign.Host}'\nbackend_port2 = {foreign.Port.ToString(CultureInfo.InvariantCulture)}\nwatchdog_port2 = {foreign.WatchdogPort.ToString(CultureInfo.InvariantCulture)}\n");
        await t.Node.StartAsync("--complete");
        await t.Node.WaitInstanceAsync(2, s => s.Role == "foreign", TransparentCluster.Deadline, "the stranger to be marked foreign");

        var row = (await t.Node.StatusAsync()).Instances.Single(i => i.Number == 2);
        Assert.Contains("differs from the cluster's", row.Excluded, StringComparison.Ordinal);
        Assert.Equal(await foreign.ScalarAsync<long>("select system_identifier from pg_control_system()"), long.Parse(row.SystemIdentifier!, CultureInfo.InvariantCulture));
        foreach (var target in new[] { "read-write", "primary", "any", "prefer-primary" })
        {
            for (var i = 0; i < 10; i++)
            {
                await using var connection = await t.DataSource(target).OpenConnectionAsync();
                Assert.NotEqual(foreign.Port, connection.Port);
            }
        }

        await Poll.UntilAsync(() => t.Node.Log.Contains("WARNING:  instance of another cluster: instance 2", StringComparison.Ordinal), TransparentCluster.Deadline, "the WARNING line");
    }
}
