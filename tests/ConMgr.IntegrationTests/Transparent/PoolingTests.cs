// PoolingTests.cs: ConMgrDataSource's pool: reuse without asking conmgr, eviction on a loss report, promotions, Max Pool Size, load balancing.
using System.Diagnostics;
using ConMgr.Client;
using ConMgr.Client.Diagnostics;
using ConMgr.IntegrationTests.Http;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class PoolingTests
{
    [Fact]
    public async Task Pooled_open_reuses_one_server_connection_and_asks_conmgr_nothing()
    {
        var http = FreePort.Next();
        await using var t = await TransparentCluster.StartAsync(extraConmgrLines: $"http_port = {http}\n");
        using var metrics = new MeasurementRecorder(ClientMetrics.MeterName);
        using var logs = new RecordingLoggerFactory();
        await using var source = new ConMgrDataSourceBuilder(Cs(t, "read-write", "pool-reuse")).UseLoggerFactory(logs).Build();

        int pid;
        await using (var first = await source.OpenConnectionAsync())
        {
            pid = first.ProcessID;
        }

        var channel = (ConMgrChannel?)null;
        for (var i = 0; i < 20; i++)
        {
            await using var connection = await source.OpenConnectionAsync();
            Assert.Equal(pid, connection.ProcessID);
            Assert.Equal(t.Cluster.Primary.Port, connection.Port);
            Assert.Equal(1, await new NpgsqlCommand("select 1", connection).ExecuteScalarAsync());
            channel ??= connection.GetConMgrChannel();
            Assert.Same(channel, connection.GetConMgrChannel());
        }

        // conmgr answered once, and counts the one server connection, idle in the pool, as the application's.
        var scrape = await PrometheusScrape.GetAsync(http, t.Node.Directory);
        Assert.Equal(1, scrape.Value("conmgr_resolves_total", ("conmgr_target", "read-write"), ("conmgr_outcome", "routed")));
        Assert.Single((await t.Node.StatusAsync()).Applications);
        Assert.Equal(1, await Sessions(t.Cluster.Primary, "pool-reuse"));
        Assert.Equal(20, metrics.Of("conmgr.client.connection.opens", ClientMetrics.OpenTag, ClientMetrics.OpenedPooled).Count);
        Assert.Single(metrics.Of("conmgr.client.connection.opens", ClientMetrics.OpenTag, ClientMetrics.OpenedAfterAnswer));
        metrics.Observe();
        var counts = metrics.Of("db.client.connection.count", "db.client.connection.pool.name", source.Name);
        Assert.Equal(1, counts.Single(m => Equals(m.Tags["db.client.connection.state"], "idle")).Value);
        Assert.Equal(0, counts.Single(m => Equals(m.Tags["db.client.connection.state"], "used")).Value);
        Assert.Single(logs.Of(ClientLog.Category, 1));   // phase one answered once
        Assert.Single(logs.Of(ClientLog.Category, 13));  // one physical connection given its lease
        Assert.Equal(20, logs.Of(ClientLog.Category, 14).Count); // twenty pooled opens

        // Disposing the data source closes the pool: the server connection and conmgr's record of it end.
        await source.DisposeAsync();
        await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).Applications.Count == 0, TransparentCluster.Deadline, "conmgr to forget the pooled connection");
        Assert.Equal(0, await Sessions(t.Cluster.Primary, "pool-reuse"));
    }

    [Fact]
    public async Task Loss_report_evicts_idle_connections_at_once_and_fails_the_command_in_use_within_200ms()
    {
        await using var t = await TransparentCluster.StartAsync();
        using var logs = new RecordingLoggerFactory();
        await using var source = new ConMgrDataSourceBuilder(Cs(t, "standby", "pool-loss")).UseLoggerFactory(logs).Build();
        var standby = t.Cluster.Standbys[0];
        var held = new List<NpgsqlConnection>();
        for (var i = 0; i < 3; i++)
        {
            held.Add(await source.OpenConnectionAsync());
        }

        var busy = held[0];
        var channel = busy.GetConMgrChannel()!;
        foreach (var idle in held.Skip(1))
        {
            await idle.DisposeAsync(); // back to the pool, still connected
        }

        Assert.Equal(3, await Sessions(standby, "pool-loss"));
        var query = InFlight(busy, "select pg_sleep(60)");
        await Poll.UntilAsync(async () => await standby.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'") == 1, TransparentCluster.Deadline, "the query in flight");

        await standby.ExecuteAsync("select pg_promote(wait => true)");

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => query);
        var sinceReport = Stopwatch.GetElapsedTime(channel.LostTimestamp!.Value);
        Assert.True(sinceReport <= TimeSpan.FromMilliseconds(200), $"the command failed {sinceReport.TotalMilliseconds:0} ms after the report");
        Assert.True(error.IsTransient);
        Assert.Contains("no longer matches target_session_attrs=standby", channel.LostReason, StringComparison.Ordinal);
        // The two idle connections are closed at once. The busy one's server process goes on sleeping:
        // PostgreSQL notices a vanished client only when it next reads from it.
        await Poll.UntilAsync(async () => await standby.ScalarAsync<long>("select count(*) from pg_stat_activity where application_name = 'pool-loss' and state = 'idle'") == 0, TransparentCluster.Deadline, "the idle connections evicted");
        var lost = Assert.Single(logs.Of(ClientLog.Category, 9));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, lost.Level);
        Assert.Contains("3 physical connections", lost.Message, StringComparison.Ordinal);

        // No standby is left: nothing is handed out, least of all a pooled connection to the promoted instance.
        var refused = await Assert.ThrowsAsync<NpgsqlException>(async () => await source.OpenConnectionAsync());
        Assert.Contains("no instance matches target_session_attrs=standby", refused.Message, StringComparison.Ordinal);
        await busy.DisposeAsync();
    }

    [Fact]
    public async Task After_a_promotion_no_pooled_connection_to_the_old_primary_is_handed_out_for_read_write()
    {
        await using var t = await TransparentCluster.StartAsync();
        await using var source = t.DataSource("read-write", extra: "Application Name=pool-promote");
        var warm = new List<NpgsqlConnection>();
        for (var i = 0; i < 4; i++)
        {
            warm.Add(await source.OpenConnectionAsync());
        }

        foreach (var connection in warm)
        {
            Assert.Equal(t.Cluster.Primary.Port, connection.Port);
            await connection.DisposeAsync();
        }

        // The old primary stays up, unfenced: only conmgr's word keeps writes away from it.
        await t.Cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");
        await t.Node.WaitInstanceAsync(0, s => s.Role == "stale primary", TransparentCluster.Deadline, "the old primary set aside");
        await Poll.UntilAsync(async () => await Sessions(t.Cluster.Primary, "pool-promote") == 0, TransparentCluster.Deadline, "the pool's connections to the old primary evicted");

        for (var i = 0; i < 10; i++)
        {
            await using var connection = await source.OpenConnectionAsync();
            Assert.Equal(t.Cluster.Standbys[0].Port, connection.Port);
            Assert.False(await new NpgsqlCommand("select pg_is_in_recovery()", connection).ExecuteScalarAsync() is true);
        }
    }

    [Fact]
    public async Task Maximum_pool_size_blocks_until_a_connection_comes_back_and_times_out_as_npgsql_does()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);
        const string limits = "Maximum Pool Size=2;Timeout=1";
        await using var source = t.DataSource("read-write", timeoutSeconds: 1, extra: $"{limits};Application Name=pool-max");
        var first = await source.OpenConnectionAsync();
        await using var second = await source.OpenConnectionAsync();

        // A third waits for one of the two: it gets the connection the first gives back.
        var third = source.OpenConnectionAsync().AsTask();
        var firstPid = first.ProcessID;
        Assert.False(third.IsCompleted);
        await first.DisposeAsync();
        await using (var reused = await third)
        {
            Assert.Equal(firstPid, reused.ProcessID);

            // With both held, the wait ends with Npgsql's own exception, the one a plain NpgsqlDataSource throws.
            var ours = await Assert.ThrowsAsync<NpgsqlException>(async () => await source.OpenConnectionAsync());
            await using var plain = NpgsqlDataSource.Create($"{t.Cluster.Primary.TcpConnectionString()};Pooling=true;{limits}");
            await using var a = await plain.OpenConnectionAsync();
            await using var b = await plain.OpenConnectionAsync();
            var npgsql = await Assert.ThrowsAsync<NpgsqlException>(async () => await plain.OpenConnectionAsync());
            Assert.Equal(npgsql.Message, ours.Message);
            Assert.Equal(npgsql.IsTransient, ours.IsTransient);
            Assert.IsType<TimeoutException>(ours.InnerException);
        }

        Assert.Equal(2, await Sessions(t.Cluster.Primary, "pool-max"));
    }

    [Fact]
    public async Task New_server_connections_follow_conmgr_and_balance_within_10_percent_over_two_standbys()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 2);
        await using var source = t.DataSource("standby");
        var held = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 60; i++)
            {
                held.Add(await source.OpenConnectionAsync());
            }

            var counts = held.GroupBy(c => t.InstanceOf(c).Name).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(["standby1", "standby2"], counts.Keys.Order());
            Assert.All(counts.Values, count => Assert.InRange(count, 27, 33));
            Assert.Equal(60, held.Select(c => c.ProcessID).Distinct().Count());
        }
        finally
        {
            foreach (var connection in held)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task CreateConnection_gives_an_unopened_connection_that_opens_on_a_live_instance_and_refuses_a_lost_one()
    {
        var http = FreePort.Next();
        await using var t = await TransparentCluster.StartAsync(extraConmgrLines: $"http_port = {http}\n");
        await using var source = t.DataSource("standby", extra: "Application Name=pool-create");

        // The first one learns the instance by opening one connection; later ones know it.
        await using var connection = source.CreateConnection();
        Assert.Equal(System.Data.ConnectionState.Closed, connection.State);
        await connection.OpenAsync();
        Assert.Equal(t.Cluster.Standbys[0].Port, connection.Port);
        Assert.NotNull(connection.GetConMgrChannel());
        await connection.CloseAsync();
        await using var second = (NpgsqlConnection)((System.Data.Common.DbDataSource)source).CreateConnection();
        await second.OpenAsync();
        await connection.OpenAsync(); // a second physical connection: conmgr is asked to confirm the instance, pinned
        var scrape = await PrometheusScrape.GetAsync(http, t.Node.Directory);
        Assert.Equal(2, scrape.Value("conmgr_resolves_total", ("conmgr_target", "standby"), ("conmgr_outcome", "routed")));
        Assert.Equal(2, (await t.Node.StatusAsync()).Applications.Count);
        await second.CloseAsync();
        await connection.CloseAsync();

        // The standby is promoted: reopening the closed connection must not reach it.
        await t.Cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");
        await Poll.UntilAsync(async () => await Sessions(t.Cluster.Standbys[0], "pool-create") == 0, TransparentCluster.Deadline, "the pool evicted");
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => connection.OpenAsync());
        Assert.True(error.IsTransient);
        Assert.Contains("did not confirm", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await Sessions(t.Cluster.Standbys[0], "pool-create"));
    }

    private static string Cs(TransparentCluster t, string target, string application) =>
        $"Host={t.ConMgrHost};Username=postgres;Database=postgres;Target Session Attributes={target};Timeout=5;Command Timeout=60;Application Name={application}";

    private static async Task<long> Sessions(PgInstance instance, string application) =>
        await instance.ScalarAsync<long>($"select count(*) from pg_stat_activity where application_name = '{application}'");

    private static async Task<object?> InFlight(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
