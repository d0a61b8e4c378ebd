// StandbyLagTests.cs: a standby held back beyond max_standby_lag gets no read-only sessions until it catches up; its sessions are kept meanwhile.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class StandbyLagTests
{
    [Fact]
    public async Task A_standby_held_back_beyond_max_standby_lag_gets_no_read_only_sessions_until_it_catches_up()
    {
        var http = FreePort.Next();
        var (t, _, ro) = await ProxyCluster.StartAsync(1, $"http_port = {http}\nmax_standby_lag = 1MB\n");
        await using var __ = t;
        var (primary, standby) = (t.Cluster.Primary, t.Cluster.Standbys[0]);
        await using var kept = await ProxyCluster.OpenAsync(ro);
        Assert.Equal(standby.Port, await ServerPortAsync(kept));

        // Replay held back while the primary writes about 8 MB of WAL.
        await standby.ExecuteAsync("select pg_wal_replay_pause()");
        await primary.ExecuteAsync("create table lag_test as select repeat('x', 1000) as filler from generate_series(1, 8000)");
        await t.Node.WaitInstanceAsync(1, s => s.Excluded?.StartsWith("lagging: ", StringComparison.Ordinal) == true, TransparentCluster.Deadline, "the standby to be set aside as lagging");
        var lagging = (await t.Node.StatusAsync()).Instances[1];
        Assert.True(lagging.LagBytes > 1 << 20, $"lag_bytes {lagging.LagBytes}");

        // New read-only sessions go to the primary, kept read-only (read_only_fallback = primary); the group path says so.
        await using (var fallback = await ProxyCluster.OpenAsync(ro))
        {
            Assert.Equal(primary.Port, await ServerPortAsync(fallback));
            Assert.Equal("on", await ProxyCluster.ScalarAsync<string>(fallback, "show transaction_read_only"));
        }

        Assert.Equal(new[] { 0 }, await HttpProbe.GroupNumbersAsync(http, "/group/read-only-info"));

        // The session already on the standby is not ended by lag.
        Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(kept, "select 1"));

        await standby.ExecuteAsync("select pg_wal_replay_resume()");
        await t.Node.WaitInstanceAsync(1, s => s.Excluded is null && s.LagBytes < 1 << 20, TransparentCluster.Deadline, "the standby to catch up");
        await using var back = await ProxyCluster.OpenAsync(ro);
        Assert.Equal(standby.Port, await ServerPortAsync(back));
        Assert.Equal(new[] { 1 }, await HttpProbe.GroupNumbersAsync(http, "/group/read-only-info"));
    }

    private static Task<int> ServerPortAsync(Npgsql.NpgsqlConnection connection) => ProxyCluster.ScalarAsync<int>(connection, "select inet_server_port()");
}
