// CancelTests.cs: a CancelRequest sent to a proxy port reaches the session's instance with the server's key; a wrong key reaches nothing.
using System.Buffers.Binary;
using System.Globalization;
using ConMgr.Hosting.Posix;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class CancelTests
{
    [Fact]
    public async Task Npgsql_cancel_through_each_port_stops_pg_sleep_on_the_right_instance()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync();
        await using var _ = t;

        foreach (var (port, instance) in new[] { (rw, t.Cluster.Primary), (ro, t.Cluster.Standbys[0]) })
        {
            await using var connection = await ProxyCluster.OpenAsync(port);
            await using var command = new NpgsqlCommand("select pg_sleep(60)", connection);
            var run = command.ExecuteScalarAsync();
            await WaitActiveAsync(instance, 1);

            command.Cancel();

            Assert.Equal("57014", await CanceledStateAsync(run));
            Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(connection, "select 1"));
        }
    }

    [Fact]
    public async Task Psql_interrupted_with_ctrl_c_cancels_its_query_through_the_port()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        await using var psql = ProxyCluster.StartPsql(t, rw, "select pg_sleep(60)", "psql-cancel.log");
        await WaitActiveAsync(t.Cluster.Primary, 1);

        // psql itself: the wrapper that runs it as postgres passes SIGINT on.
        ProcessTree.Signal(psql.Pid, Libc.SIGINT);

        Assert.NotEqual(0, await psql.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("canceling statement due to user request", psql.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancel_with_a_wrong_secret_cancels_nothing()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        await using var connection = await ProxyCluster.OpenAsync(rw);
        await using var command = new NpgsqlCommand("select pg_sleep(60)", connection);
        var run = command.ExecuteScalarAsync();
        await WaitActiveAsync(t.Cluster.Primary, 1);

        // The process id conmgr gave the client, with a secret that is not the one it gave.
        using (var wire = await PgWire.ConnectAsync("127.0.0.1", rw))
        {
            var request = new byte[16];
            BinaryPrimitives.WriteInt32BigEndian(request, 16);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), (1234 << 16) | 5678);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(8), connection.ProcessID);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(12), 12345);
            await wire.SendAsync(request);
            Assert.True(await wire.ClosedWithoutDataAsync(TimeSpan.FromSeconds(10)));
        }

        // A forwarded cancel is handed to the postmaster before conmgr closes: give the backend a round trip to act on one.
        await t.Cluster.Primary.ScalarAsync<int>("select 1");
        Assert.Equal(1, await ActiveSleepsAsync(t.Cluster.Primary));
        Assert.False(run.IsCompleted);

        command.Cancel();
        Assert.Equal("57014", await CanceledStateAsync(run));
    }

    /// <summary>Npgsql reports a cancelled command as OperationCanceledException around the server's 57014.</summary>
    private static async Task<string> CanceledStateAsync(Task run)
    {
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        return Assert.IsType<PostgresException>(error.InnerException).SqlState;
    }

    private static Task<long> ActiveSleepsAsync(PgInstance instance) =>
        instance.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'");

    private static Task<TimeSpan> WaitActiveAsync(PgInstance instance, long count) =>
        Poll.UntilAsync(async () => await ActiveSleepsAsync(instance) == count, TransparentCluster.Deadline, $"pg_sleep to run on {instance.Name}");
}
