// PortLimitTests.cs: read_write_max_client_connections and read_only_max_client_connections: one client too many gets 53300 and costs no server connection; a freed place is taken at once.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class PortLimitTests
{
    [Fact]
    public async Task A_client_over_a_ports_own_limit_gets_53300_without_a_backend_and_the_other_port_is_not_affected()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync(standbys: 1, extraConmgrLines: "read_write_max_client_connections = 2\nread_only_max_client_connections = 1\n");
        await using var _ = t;
        await using var first = await ProxyCluster.OpenAsync(rw);
        await using var second = await ProxyCluster.OpenAsync(rw);
        var backends = await t.Cluster.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where backend_type = 'client backend'");

        var refused = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.OpenAsync(rw, "Include Error Detail=true"));
        Assert.Equal("53300", refused.SqlState);
        Assert.Equal("sorry, too many clients already for conmgr's read-write port", refused.MessageText);
        Assert.Equal("read_write_max_client_connections = 2", refused.Detail);
        Assert.Equal(backends, await t.Cluster.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where backend_type = 'client backend'"));

        // The read-only port counts its own clients.
        await using (var reader = await ProxyCluster.OpenAsync(ro))
        {
            Assert.True(await ProxyCluster.ScalarAsync<bool>(reader, "select pg_is_in_recovery()"));
            Assert.Equal("53300", (await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.OpenAsync(ro))).SqlState);
        }

        // A place freed (the session's end is seen when its server connection closes) is taken by the next client.
        await first.CloseAsync();
        await Poll.UntilAsync(async () => await CanOpenAsync(rw), TransparentCluster.Deadline, "a place on the read-write port");
    }

    private static async Task<bool> CanOpenAsync(int port)
    {
        try
        {
            await using var connection = await ProxyCluster.OpenAsync(port);
            return true;
        }
        catch (PostgresException ex) when (ex.SqlState == "53300")
        {
            return false;
        }
    }
}
