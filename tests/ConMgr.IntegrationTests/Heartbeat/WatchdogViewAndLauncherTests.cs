// WatchdogViewAndLauncherTests.cs: pgx_stat_watchdog on primary and standby; the launcher starts and stops cm_watchdog with the instance.
using System.Globalization;
using ConMgr.Hosting.Posix;
using ConMgr.Testing;
using Npgsql;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

public sealed class WatchdogViewAndLauncherTests
{
    private const string ViewQuery = "select count(*) from pgx_stat_watchdog where conmgr_addr = '127.0.0.1' and heartbeat_interval = 1 and heartbeat_timeout = 1 and heartbeat_interval_ms = 200 and heartbeat_timeout_ms = 1000";

    [Fact]
    public async Task View_shows_each_connected_conmgr_on_primary_and_standby()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        await cluster.Primary.ExecuteAsync("create extension watchdog; create role reader login");
        await using var first = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await using var second = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await first.StartAsync();
        await second.StartAsync();

        foreach (var instance in cluster.Instances)
        {
            await Poll.UntilAsync(async () => await instance.ScalarAsync<long>(ViewQuery) == 2, Deadline, $"two rows in pgx_stat_watchdog on {instance.Name}");
        }

        // Readable by anyone, on the read-only standby too.
        await using (var reader = new NpgsqlConnection(cluster.Standbys[0].ConnectionString().Replace("Username=postgres", "Username=reader", StringComparison.Ordinal)))
        {
            await reader.OpenAsync();
            await using var command = new NpgsqlCommand("select count(*) from pgx_stat_watchdog", reader);
            Assert.Equal(2L, await command.ExecuteScalarAsync());
        }

        Assert.Equal(0, (await second.CtlAsync("stop")).ExitCode);
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(ViewQuery) == 1, Deadline, "one row after a conmgr stopped");

        await cluster.Primary.ExecuteAsync("drop extension watchdog");
        Assert.Equal(0L, await cluster.Primary.ScalarAsync<long>("select count(*) from pg_class where relname = 'pgx_stat_watchdog'"));
    }

    [Fact]
    public async Task Launcher_starts_restarts_and_stops_the_watchdog_with_the_instance()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        var primary = cluster.Primary;
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link through the launched watchdog");
        var watchdog = primary.WatchdogPid;
        Assert.NotNull(watchdog);

        // Killed: the launcher starts a new one.
        Libc.Kill(watchdog.Value, Libc.SIGKILL);
        await Poll.UntilAsync(() => primary.WatchdogPid is { } pid && pid != watchdog, Deadline, "the launcher to restart cm_watchdog");
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link to come back");

        // pg_ctl stop stops it; pg_ctl start starts it.
        await primary.StopAsync();
        Assert.Null(primary.WatchdogPid);
        await node.WaitInstanceAsync(0, i => i.Heartbeat != "up", Deadline, "the link to go down with the instance");
        await primary.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the link to come back with the instance");
        Assert.Equal(2, await primary.ScalarAsync<long>("select count(*) from pg_stat_activity where application_name like 'cm_watchdog%'"));
        Assert.Single(ProcessTree.Of(primary.PostmasterPid!.Value), pid => CommandLine(pid).Contains("watchdog launcher", StringComparison.Ordinal));
        Assert.Contains(primary.WatchdogPid!.Value, ProcessTree.Of(primary.PostmasterPid!.Value));
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
