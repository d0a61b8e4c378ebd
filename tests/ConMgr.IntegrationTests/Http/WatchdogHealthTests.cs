// WatchdogHealthTests.cs: each watchdog's Patroni paths for its own instance, before and after a promotion; HAProxy configured as Patroni's documentation shows follows the promotion.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Http;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class WatchdogHealthTests
{
    private static readonly TimeSpan RoleBound = TimeSpan.FromMilliseconds(TransparentCluster.CheckAttrIntervalMs + 500);

    [Fact]
    public async Task Each_watchdog_answers_patronis_paths_for_its_instance_and_a_promotion_flips_them_within_check_attr_interval_and_500_ms()
    {
        await using var cluster = await StartClusterAsync();
        var (primary, standby) = (cluster.Primary, cluster.Standbys[0]);
        await WaitHttpAsync(primary);
        await WaitHttpAsync(standby);

        foreach (var (path, onPrimary, onStandby) in new[]
        {
            ("/primary", 200, 503), ("/read-write", 200, 503), ("/replica", 503, 200), ("/replica?lag=16MB", 503, 200),
            ("/replica?replication_state=streaming", 503, 200), ("/read-only", 200, 200), ("/health", 200, 200),
            ("/liveness", 200, 200), ("/readiness", 200, 200),
        })
        {
            var (fromPrimary, fromStandby) = (await HttpProbe.GetAsync(primary.WatchdogHttpPort, path), await HttpProbe.GetAsync(standby.WatchdogHttpPort, path));
            Assert.True(fromPrimary.Status == onPrimary, $"{path} on the primary: {fromPrimary}");
            Assert.True(fromStandby.Status == onStandby, $"{path} on the standby: {fromStandby}");
            Assert.Equal((path, onStandby), (path, (await HttpProbe.GetAsync(standby.WatchdogHttpPort, path, "OPTIONS")).Status));
        }

        using (var body = JsonDocument.Parse((await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/replica")).Body))
        {
            Assert.Equal("replica", body.RootElement.GetProperty("role").GetString());
            Assert.Equal("streaming", body.RootElement.GetProperty("replication_state").GetString());
            Assert.InRange(body.RootElement.GetProperty("server_version").GetInt32(), 150000, 159999);
        }

        Assert.Equal(400, (await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/replica?lag=lots")).Status);
        var metrics = await HttpProbe.GetAsync(primary.WatchdogHttpPort, "/metrics");
        Assert.Contains("watchdog_attribute_check_duration_seconds_bucket{", metrics.Body, StringComparison.Ordinal);

        // Replay paused while the primary writes: the replica falls behind a 1MB lag check.
        await standby.ExecuteAsync("select pg_wal_replay_pause()");
        await primary.ExecuteAsync("create table lagging as select repeat('x', 1000) as filler from generate_series(1, 4000)");
        await Poll.UntilAsync(async () => (await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/replica?lag=1MB")).Status == 503, TransparentCluster.Deadline, "the lag check to fail");
        Assert.Equal(200, (await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/replica?lag=1GB")).Status);
        await standby.ExecuteAsync("select pg_wal_replay_resume()");
        await Poll.UntilAsync(async () => (await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/replica?lag=1MB")).Status == 200, TransparentCluster.Deadline, "the lag check to pass again");

        // The primary stops (its watchdog with it); the standby is promoted: its /primary flips.
        await primary.StopAsync();
        await standby.PromoteAsync();
        var watch = Stopwatch.StartNew();
        await Poll.UntilAsync(async () => (await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/primary")).Status == 200, TransparentCluster.Deadline, "/primary on the promoted standby");
        Assert.True(watch.Elapsed <= RoleBound, $"/primary flipped {watch.Elapsed.TotalMilliseconds:0} ms after the promotion");
        Assert.Equal(503, (await HttpProbe.GetAsync(standby.WatchdogHttpPort, "/replica")).Status);
    }

    [Fact]
    public async Task Haproxy_configured_as_patronis_documentation_shows_sends_psql_to_the_new_primary_after_a_promotion()
    {
        await using var cluster = await StartClusterAsync();
        var (primary, standby) = (cluster.Primary, cluster.Standbys[0]);
        var (writes, reads, stats) = (FreePort.Next(), FreePort.Next(), FreePort.Next());
        var config = Path.Combine(cluster.Directory, "haproxy.cfg");
        await File.WriteAllTextAsync(config, HaproxyConfig(writes, reads, stats, cluster.Instances));
        await using var haproxy = BackgroundProcess.Start("haproxy", ["-db", "-f", config], RunAs.Self, Path.Combine(cluster.Directory, "haproxy.log"));

        await Poll.UntilAsync(async () => await PortThroughAsync(writes) == primary.Port, TransparentCluster.Deadline, "psql through HAProxy's write frontend on the primary: " + haproxy.Log);
        await Poll.UntilAsync(async () => await PortThroughAsync(reads) == standby.Port, TransparentCluster.Deadline, "psql through HAProxy's read frontend on the replica");

        // A session through the write frontend; then the primary goes and the standby is promoted.
        await using var session = BackgroundProcess.Start("psql", [.. Psql(writes), "-c", "select pg_sleep(600)"], RunAs.Postgres, Path.Combine(cluster.Directory, "psql-haproxy.log"));
        await Poll.UntilAsync(async () => await primary.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(600)'") == 1, TransparentCluster.Deadline, "the session on the primary");
        await primary.StopAsync();
        await standby.PromoteAsync();

        await Poll.UntilAsync(async () => await PortThroughAsync(writes) == standby.Port, TransparentCluster.Deadline, "psql through HAProxy's write frontend on the promoted standby: " + haproxy.Log);
        Assert.NotEqual(0, await session.WaitForExitAsync(TransparentCluster.Deadline));
        Assert.False(haproxy.HasExited, haproxy.Log);
    }

    private static Task<PgCluster> StartClusterAsync() =>
        PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Launcher, WatchdogHttp = true, CheckAttrIntervalMs = TransparentCluster.CheckAttrIntervalMs });

    private static Task<TimeSpan> WaitHttpAsync(PgInstance instance) =>
        Poll.UntilAsync(async () => (await HttpProbe.GetAsync(instance.WatchdogHttpPort, "/health")).Status == 200, TransparentCluster.Deadline, $"{instance.Name}'s watchdog HTTP port");

    private static string[] Psql(int port) => ["-X", "-At", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres"];

    /// <summary>The server port psql reaches through <paramref name="port"/>; 0 when it cannot connect.</summary>
    private static async Task<int> PortThroughAsync(int port)
    {
        var result = await ProcessRunner.RunAsync("psql", [.. Psql(port), "-c", "select inet_server_port()"], RunAs.Postgres, TimeSpan.FromSeconds(15), new Dictionary<string, string> { ["PGCONNECT_TIMEOUT"] = "3" });
        return result.ExitCode == 0 ? int.Parse(result.StandardOutput.Trim(), CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>
    /// Patroni's documented haproxy.cfg: OPTIONS /primary and /replica checks on each node's REST
    /// port, expect status 200, on-marked-down shutdown-sessions. Only the check timings are
    /// shortened (Patroni's: inter 3s fall 3 rise 2) to keep the test quick.
    /// </summary>
    private static string HaproxyConfig(int writes, int reads, int stats, IReadOnlyList<PgInstance> instances)
    {
        string Servers() => string.Concat(instances.Select(i => $"    server {i.Name} 127.0.0.1:{i.Port} maxconn 100 check port {i.WatchdogHttpPort}\n"));
        return $"""
            global
                maxconn 100

            defaults
                log global
                mode tcp
                retries 2
                timeout client 30m
                timeout connect 4s
                timeout server 30m
                timeout check 5s

            listen stats
                mode http
                bind 127.0.0.1:{stats}
                stats enable
                stats uri /

            listen primary
                bind 127.0.0.1:{writes}
                option httpchk OPTIONS /primary
                http-check expect status 200
                default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
            {Servers()}
            listen replicas
                bind 127.0.0.1:{reads}
                balance roundrobin
                option httpchk OPTIONS /replica?lag=16MB
                http-check expect status 200
                default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
            {Servers()}
            """;
    }
}
