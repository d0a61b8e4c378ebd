// FastFailureTests.cs: a proxied client hears of a lost instance within the heartbeat timeout, even mid-query on a silent server.
using System.Diagnostics;
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class FastFailureTests
{
    /// <summary>heartbeat_timeout of these clusters (1 s) plus the margin.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromMilliseconds(1200);

    [Fact]
    public async Task A_frozen_primary_fails_a_running_query_on_the_read_write_port_within_the_heartbeat_timeout_and_the_next_connection_lands_on_the_new_primary()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync();
        await using var _ = t;
        await using var connection = await ProxyCluster.OpenAsync(rw);
        var query = await t.InFlightAsync(connection, "select pg_sleep(60)");

        var watch = Stopwatch.StartNew();
        t.Cluster.Primary.Freeze();
        try
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => query);
            var elapsed = watch.Elapsed;

            Assert.True(elapsed <= Bound, $"the error came after {elapsed.TotalMilliseconds:0} ms");
            Assert.Equal("57P01", error.SqlState);
            Assert.Contains("conmgr lost the heartbeat of instance 0", error.MessageText, StringComparison.Ordinal);

            await t.Cluster.Standbys[0].PromoteAsync();
            await t.Node.WaitInstanceAsync(1, s => s.Role == "primary", TransparentCluster.Deadline, "the promotion");
            await using var next = await ProxyCluster.OpenAsync(rw);
            Assert.Equal(t.Cluster.Standbys[0].Port, await ProxyCluster.ScalarAsync<int>(next, "select inet_server_port()"));
            Assert.False(await ProxyCluster.ScalarAsync<bool>(next, "select pg_is_in_recovery()"));
        }
        finally
        {
            t.Cluster.Primary.Thaw();
        }
    }

    [Fact]
    public async Task Psql_on_the_read_only_port_gets_the_loss_error_within_the_heartbeat_timeout_when_its_standby_freezes()
    {
        var (t, _, ro) = await ProxyCluster.StartAsync();
        await using var __ = t;
        await using var psql = ProxyCluster.StartPsql(t, ro, "select pg_sleep(60)", "psql-loss.log");
        var standby = t.Cluster.Standbys[0];
        await Poll.UntilAsync(async () => await standby.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'") == 1, TransparentCluster.Deadline, "the query on the standby");

        var watch = Stopwatch.StartNew();
        standby.Freeze();
        try
        {
            Assert.NotEqual(0, await psql.WaitForExitAsync(TransparentCluster.Deadline));
            var elapsed = watch.Elapsed;

            Assert.True(elapsed <= Bound + TimeSpan.FromMilliseconds(300), $"psql ended after {elapsed.TotalMilliseconds:0} ms");
            Assert.Contains("conmgr lost the heartbeat of instance 1", psql.Log, StringComparison.Ordinal);
        }
        finally
        {
            standby.Thaw();
        }
    }

    [Theory]
    [InlineData("reactor")]
    [InlineData("stream")]
    public async Task A_demoted_primary_ends_read_write_sessions_between_two_messages(string relay)
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0, relay: relay);
        await using var _ = t;
        await using var connection = await ProxyCluster.OpenAsync(rw);
        Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(connection, "select 1"));

        // default_transaction_read_only on: no longer read-write, so the port's sessions there end.
        await t.Cluster.Primary.ExecuteAsync("alter system set default_transaction_read_only = on");
        await t.Cluster.Primary.ExecuteAsync("select pg_reload_conf()");
        await t.Node.WaitInstanceAsync(0, s => s.ReadOnly == true, TransparentCluster.Deadline, "read-only to be seen");

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => ProxyCluster.ScalarAsync<int>(connection, "select 1"));
        Assert.Contains("no longer matches conmgr's read-write port", error.ToString(), StringComparison.Ordinal);
    }
}
