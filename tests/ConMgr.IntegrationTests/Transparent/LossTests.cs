// LossTests.cs: an in-flight command fails fast, as a transient connection failure, when conmgr reports the instance lost or dies.
using System.Diagnostics;
using ConMgr.Client;
using ConMgr.Hosting.Posix;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class LossTests
{
    [Fact]
    public async Task Conmgr_killed_during_a_query_fails_the_query_within_500ms()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);
        await using var source = t.DataSource("read-write");
        await using var connection = await source.OpenConnectionAsync();
        var query = await t.InFlightAsync(connection, "select pg_sleep(60)");

        var watch = Stopwatch.StartNew();
        Libc.Kill(t.Node.Pid!.Value, Libc.SIGKILL);
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => query);

        Assert.True(watch.Elapsed <= TimeSpan.FromMilliseconds(500), $"query failed after {watch.Elapsed.TotalMilliseconds:0} ms");
        Assert.True(error.IsTransient, $"not transient: {error}");
        Assert.Equal(System.Data.ConnectionState.Closed, connection.State);

        // Two things fail the query at once: the lease seeing conmgr's socket close, and the
        // watchdog's terminator ending the session because conmgr's heartbeat closed. When the
        // terminator wins, the lease records its reason a moment after the query failed.
        var channel = connection.GetConMgrChannel()!;
        await Poll.UntilAsync(() => channel.LostReason is not null, TimeSpan.FromSeconds(5), "the lease to record why");
        Assert.Contains("conmgr", channel.LostReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Instance_lost_report_fails_an_idle_connection_on_its_next_use_and_a_new_one_works()
    {
        await using var t = await TransparentCluster.StartAsync();
        await using var source = t.DataSource("standby");
        await using var connection = await source.OpenConnectionAsync();
        var channel = connection.GetConMgrChannel()!;

        t.Cluster.Standbys[0].Freeze();
        try
        {
            await Poll.UntilAsync(() => channel.Lost.IsCancellationRequested, TransparentCluster.Deadline, "the loss report");
            Assert.Contains("57P01: terminating connection: conmgr lost the heartbeat of instance 1", channel.LostReason, StringComparison.Ordinal);
            var error = await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
            {
                await using var command = new NpgsqlCommand("select 1", connection);
                await command.ExecuteScalarAsync();
            });
            Assert.True(error.IsTransient);
        }
        finally
        {
            t.Cluster.Standbys[0].Thaw();
        }

        await t.Node.WaitInstanceAsync(1, s => s.Heartbeat == "up" && s.Role == "standby", TransparentCluster.Deadline, "the standby to come back");
        await using var fresh = await source.OpenConnectionAsync();
        await using var again = new NpgsqlCommand("select 1", fresh);
        Assert.Equal(1, await again.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Breaker_works_with_this_npgsql_version()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);
        await using var connection = new NpgsqlConnection(t.Cluster.Primary.TcpConnectionString());
        await connection.OpenAsync();
        var query = await t.InFlightAsync(connection, "select pg_sleep(60)");

        Assert.True(NpgsqlConnectionBreaker.IsSupported);
        Assert.True(NpgsqlConnectionBreaker.Break(connection));

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => query);
        Assert.True(error.IsTransient);
        Assert.NotEqual(System.Data.ConnectionState.Open, connection.State);
    }
}
