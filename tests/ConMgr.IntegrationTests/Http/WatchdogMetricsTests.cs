// WatchdogMetricsTests.cs: the watchdog's /metrics parsed by Prometheus's reference parser: peers, attribute checks, a refused connection, a termination and the sessions it killed.
using System.Globalization;
using ConMgr.Hosting.Posix;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Http;

public sealed class WatchdogMetricsTests
{
    private const string SessionsFromLoopback = "select count(*) from pg_stat_activity where client_addr = '127.0.0.1' and backend_type = 'client backend'";

    [Fact]
    public async Task The_watchdogs_metrics_count_its_peers_checks_and_the_sessions_it_terminated_for_a_lost_conmgr()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, WatchdogHttp = true, CheckAttrIntervalMs = TransparentCluster.CheckAttrIntervalMs, ExtraSettings = [PgCluster.Unauthenticated] });
        var primary = cluster.Primary;
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\n" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", TransparentCluster.Deadline, "the link");

        // The exporter listens from the moment the HTTP port starts: the first check after that is recorded.
        await Poll.UntilAsync(async () => (await PrometheusScrape.GetAsync(primary.WatchdogHttpPort, cluster.Directory)).Samples("watchdog_attribute_check_duration_seconds_count").Count == 1, TransparentCluster.Deadline, "an attribute check recorded");
        var before = await PrometheusScrape.GetAsync(primary.WatchdogHttpPort, cluster.Directory);
        Assert.Equal(("gauge", 1), (before.Type("watchdog_peers"), before.Value("watchdog_peers")));
        Assert.Equal("histogram", before.Type("watchdog_attribute_check_duration_seconds"));
        Assert.True(before.Value("watchdog_attribute_check_duration_seconds_count") >= 1);
        Assert.Equal("cm_watchdog", Assert.Single(before.Samples("target_info")).Labels["service_name"]);
        Assert.Empty(before.Samples("watchdog_terminations_total"));

        // A Hello asking for a 1 ms beat is refused before it becomes a link: counted by kind.
        using (var greedy = await PgWire.ConnectAsync("127.0.0.1", primary.WatchdogPort))
        {
            await greedy.SendAsync(RawFrames.Hello(1, 1000, 5));
            Assert.Equal('R', (await greedy.ReadMessageAsync(TransparentCluster.Deadline))!.Type);
        }

        await Poll.UntilAsync(async () => (await PrometheusScrape.GetAsync(primary.WatchdogHttpPort, cluster.Directory)).Samples("watchdog_heartbeat_refusals_total").Count > 0, TransparentCluster.Deadline, "the refusal counted");
        var refused = await PrometheusScrape.GetAsync(primary.WatchdogHttpPort, cluster.Directory);
        Assert.Equal(("counter", 1), (refused.Type("watchdog_heartbeat_refusals"), refused.Value("watchdog_heartbeat_refusals_total", ("watchdog_kind", "protocol"))));

        // Two sessions from conmgr's host, then conmgr dies: the watchdog terminates them.
        await using var psql = BackgroundProcess.Start("psql", ["-X", "-h", "127.0.0.1", "-p", primary.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-c", "select pg_sleep(600)"], RunAs.Postgres, Path.Combine(node.Directory, "psql.log"));
        await using var session = new Npgsql.NpgsqlConnection(primary.TcpConnectionString());
        await session.OpenAsync();
        await Poll.UntilAsync(async () => await primary.ScalarAsync<long>(SessionsFromLoopback) == 2, TransparentCluster.Deadline, "two sessions from 127.0.0.1");
        Libc.Kill(node.Pid!.Value, Libc.SIGKILL);
        await Poll.UntilAsync(async () => (await PrometheusScrape.GetAsync(primary.WatchdogHttpPort, cluster.Directory)).Samples("watchdog_terminations_total").Count > 0, TransparentCluster.Deadline, "the termination");

        var after = await PrometheusScrape.GetAsync(primary.WatchdogHttpPort, cluster.Directory);
        Assert.Equal(("counter", 1), (after.Type("watchdog_terminations"), after.Value("watchdog_terminations_total", ("watchdog_outcome", "done"))));
        Assert.Equal(2, after.Value("watchdog_sessions_terminated_total"));
        Assert.Equal(0, after.Value("watchdog_peers"));
        Assert.Empty(after.Samples("watchdog_attribute_check_failures_total"));
    }
}
