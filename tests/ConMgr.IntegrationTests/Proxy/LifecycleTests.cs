// LifecycleTests.cs: proxied sessions under max_connections and cm_ctl stop -m smart / fast.
using ConMgr.Hosting.Posix;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class LifecycleTests
{
    [Fact]
    public async Task Max_connections_counts_every_port_together_and_the_one_over_is_closed_without_a_message()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync(extraConmgrLines: "max_connections = 2\n");
        await using var _ = t;
        await using var writer = await ProxyCluster.OpenAsync(rw);
        await using var reader = await ProxyCluster.OpenAsync(ro);

        using var third = await PgWire.ConnectAsync("127.0.0.1", t.Node.Port);
        Assert.True(await third.ClosedWithoutDataAsync(TimeSpan.FromSeconds(10)));
        using var fourth = await PgWire.ConnectAsync("127.0.0.1", rw);
        Assert.True(await fourth.ClosedWithoutDataAsync(TimeSpan.FromSeconds(10)));
        await Poll.UntilAsync(() => t.Node.Log.Contains("too many connections (max_connections = 2)", StringComparison.Ordinal), TransparentCluster.Deadline, "the LOG line of the refusal");

        await reader.CloseAsync();
        await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).Applications.Count == 1, TransparentCluster.Deadline, "the reader to leave");
        await using var again = await ProxyCluster.OpenAsync(ro);
        Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(again, "select 1"));
    }

    [Fact]
    public async Task Fast_shutdown_ends_proxied_sessions_with_admin_shutdown_and_waits_for_them()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var _ = t;
        await using var connection = await ProxyCluster.OpenAsync(rw);
        var query = await t.InFlightAsync(connection, "select pg_sleep(60)");
        var pid = t.Node.Pid!.Value;

        Assert.Equal(0, (await t.Node.CtlAsync("stop", "-m", "fast")).ExitCode);

        Assert.False(Libc.IsAlive(pid));
        var error = await Assert.ThrowsAsync<PostgresException>(() => query);
        Assert.Equal("57P01", error.SqlState);
        Assert.Equal("terminating connection due to administrator command", error.MessageText);
    }

    [Fact]
    public async Task Smart_shutdown_waits_for_the_last_proxied_session()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var _ = t;
        var connection = await ProxyCluster.OpenAsync(rw);
        var pid = t.Node.Pid!.Value;

        Assert.Equal(0, (await t.Node.CtlAsync("stop", "-m", "smart", "-W")).ExitCode);
        await Poll.UntilAsync(() => t.Node.Log.Contains("received smart shutdown request", StringComparison.Ordinal), TransparentCluster.Deadline, "the smart shutdown");

        Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(connection, "select 1"));
        Assert.True(Libc.IsAlive(pid));
        await connection.DisposeAsync();
        await Poll.UntilAsync(() => !Libc.IsAlive(pid), TransparentCluster.Deadline, "conmgr to exit after the last session");
    }
}
