// MetricsTests.cs: /metrics parsed by Prometheus's reference parser (python3-prometheus-client) matches the cluster: names, types, labels, values.
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Http;

public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_parsed_by_a_prometheus_parser_match_the_clusters_state_before_and_after_a_lost_instance()
    {
        var http = FreePort.Next();
        var (t, rw, ro) = await ProxyCluster.StartAsync(1, $"http_port = {http}\nmax_connections = 3\n");
        await using var __ = t;
        var (primary, standby) = (t.Cluster.Primary, t.Cluster.Standbys[0]);

        // One two-phase client, one session on each proxy port, a canceled query, a fourth connection over max_connections = 3.
        await using var dataSource = t.DataSource("primary");
        await using var twoPhase = await dataSource.OpenConnectionAsync();
        await using var writer = await ProxyCluster.OpenAsync(rw);
        Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(writer, "select 1"));
        await CancelASleepAsync(writer, primary); // the CancelRequest's connection is the third
        await using var reader = await ProxyCluster.OpenAsync(ro);
        using (var fifth = new System.Net.Sockets.TcpClient())
        {
            await fifth.ConnectAsync("127.0.0.1", t.Node.Port);
            await Poll.UntilAsync(() => t.Node.Log.Contains("too many connections", StringComparison.Ordinal), TransparentCluster.Deadline, "the refusal");
        }

        var before = await PrometheusScrape.UntilAsync(
            http,
            t.Node.Directory,
            s => s.TryValue("conmgr_heartbeat_rtt_seconds_count", ("conmgr_instance", "0")) > 0
                 && s.TryValue("conmgr_cancel_requests_total", ("conmgr_outcome", "forwarded")) >= 1
                 && s.TryValue("conmgr_connections_refused_total", ("conmgr_reason", "max_connections")) >= 1,
            TransparentCluster.Deadline,
            "the first RTT sample, the cancel and the refusal to be counted");
        Assert.Equal(("gauge", 1), (before.Type("conmgr_instance_heartbeat_state"), before.Value("conmgr_instance_heartbeat_state", ("conmgr_instance", "0"), ("conmgr_state", "up"))));
        Assert.Equal(0, before.Value("conmgr_instance_heartbeat_state", ("conmgr_instance", "1"), ("conmgr_state", "down")));
        Assert.Equal(1, before.Value("conmgr_instance_role", ("conmgr_instance", "0"), ("conmgr_role", "primary")));
        Assert.Equal(1, before.Value("conmgr_instance_role", ("conmgr_instance", "1"), ("conmgr_role", "standby")));
        Assert.Equal(await primary.TimelineAsync(), before.Value("conmgr_instance_timeline", ("conmgr_instance", "0")));
        Assert.InRange(before.Value("conmgr_instance_replication_lag_bytes", ("conmgr_instance", "1")), 0, 16 << 20);
        Assert.Equal("gauge", before.Type("conmgr_instance_replay_lag_seconds"));

        Assert.Equal("histogram", before.Type("conmgr_heartbeat_rtt_seconds"));
        var buckets = before.Samples("conmgr_heartbeat_rtt_seconds_bucket", ("conmgr_instance", "0")).Select(s => s.Labels["le"]).ToList();
        Assert.Equal(["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"], buckets);
        Assert.True(before.Value("conmgr_heartbeat_rtt_seconds_count", ("conmgr_instance", "0")) > 0);

        Assert.Equal(("counter", 1), (before.Type("conmgr_resolves"), before.Value("conmgr_resolves_total", ("conmgr_target", "primary"), ("conmgr_outcome", "routed"))));
        Assert.Equal(1, before.Value("conmgr_sessions", ("conmgr_instance", "0"), ("conmgr_port", "resolve")));
        Assert.Equal(1, before.Value("conmgr_sessions", ("conmgr_instance", "0"), ("conmgr_port", "read-write")));
        Assert.Equal(1, before.Value("conmgr_sessions", ("conmgr_instance", "1"), ("conmgr_port", "read-only")));
        Assert.Equal(0, before.Value("conmgr_sessions", ("conmgr_instance", "1"), ("conmgr_port", "read-write")));
        Assert.True(before.Value("conmgr_proxy_io_bytes_total", ("conmgr_port", "read-write"), ("conmgr_direction", "to_client")) > 0);
        Assert.True(before.Value("conmgr_proxy_io_bytes_total", ("conmgr_port", "read-only"), ("conmgr_direction", "to_server")) > 0);
        Assert.Equal(1, before.Value("conmgr_cancel_requests_total", ("conmgr_outcome", "forwarded")));
        Assert.Equal(1, before.Value("conmgr_connections_refused_total", ("conmgr_reason", "max_connections")));
        Assert.Equal("conmgr", Assert.Single(before.Samples("target_info")).Labels["service_name"]);

        // The standby's host freezes: a loss, its session closed with 57P01, its link down.
        standby.Freeze();
        try
        {
            await t.Node.WaitInstanceAsync(1, s => s.Heartbeat == "down", TransparentCluster.Deadline, "the standby's loss");
            var after = await PrometheusScrape.UntilAsync(
                http,
                t.Node.Directory,
                s => s.TryValue("conmgr_sessions", ("conmgr_instance", "1"), ("conmgr_port", "read-only")) == 0
                     && s.TryValue("conmgr_heartbeat_losses_total", ("conmgr_instance", "1")) >= 1
                     && s.TryValue("conmgr_connections_closed_with_error_total", ("conmgr_port", "read-only"), ("error_type", "57P01")) >= 1,
                TransparentCluster.Deadline,
                "the standby's session to be closed, the loss and the error to be counted");
            Assert.Equal(1, after.Value("conmgr_heartbeat_losses_total", ("conmgr_instance", "1")));
            Assert.Equal(0, after.Value("conmgr_instance_heartbeat_state", ("conmgr_instance", "1"), ("conmgr_state", "up"))); // down, or connecting again
            Assert.Equal(1, after.Value("conmgr_instance_role", ("conmgr_instance", "1"), ("conmgr_role", "unknown")));
            Assert.Equal(1, after.Value("conmgr_connections_closed_with_error_total", ("conmgr_port", "read-only"), ("error_type", "57P01")));
            Assert.Empty(after.Samples("conmgr_instance_timeline", ("conmgr_instance", "1")));
            Assert.Equal(1, after.Value("conmgr_sessions", ("conmgr_instance", "0"), ("conmgr_port", "read-write")));
        }
        finally
        {
            standby.Thaw();
        }
    }

    private static async Task CancelASleepAsync(NpgsqlConnection connection, PgInstance instance)
    {
        await using var command = new NpgsqlCommand("select pg_sleep(60)", connection);
        var sleeping = command.ExecuteNonQueryAsync();
        await Poll.UntilAsync(async () => await instance.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'") == 1, TransparentCluster.Deadline, "the sleep");
        command.Cancel();
        // Npgsql reports the server's 57014 as an OperationCanceledException wrapping it.
        var error = await Assert.ThrowsAsync<OperationCanceledException>(() => sleeping);
        Assert.Equal("57014", Assert.IsType<PostgresException>(error.InnerException).SqlState);
    }
}
