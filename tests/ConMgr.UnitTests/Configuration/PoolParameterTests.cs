// PoolParameterTests.cs: the pooling parameters: PGD's names and values, per-port overrides, PgBouncer's timeouts with 0 for never, and pooling refused without preauth.
using ConMgr.Configuration;

namespace ConMgr.UnitTests.Configuration;

public sealed class PoolParameterTests
{
    private const string Host = "backend_hostaddr0 = '127.0.0.1'\n";
    private const string Preauth = "preauth = on\nheartbeat_sslrootcert = 'ca.crt'\nheartbeat_sslcert = 'c.crt'\nheartbeat_sslkey = 'c.key'\n";

    private static PoolSettings Load(string text) => ConMgrConfigLoader.Load(Host + text, "conmgr.conf").Settings.Pool;

    [Fact]
    public void Defaults_pool_nothing_and_a_pooling_port_keeps_twenty_server_connections_per_instance()
    {
        var none = Load(string.Empty);
        Assert.False(none.Pooling);
        Assert.Equal(0, none.MaxServerConnectionsFor(readWrite: true));
        Assert.Equal(TimeSpan.FromSeconds(30), none.WaitTimeout);
        Assert.Equal(TimeSpan.FromSeconds(600), none.ServerIdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3600), none.ServerLifetime);
        Assert.Equal(TimeSpan.Zero, none.IdleTransactionTimeout);
        Assert.Equal("DISCARD ALL", none.ServerResetQuery);

        var pooled = Load(Preauth + "server_pool_mode = transaction\nread_only_server_pool_mode = none\nread_only_max_server_connections = 7\n");
        Assert.Equal(ServerPoolMode.Transaction, pooled.ModeFor(readWrite: true));
        Assert.Equal(ServerPoolMode.None, pooled.ModeFor(readWrite: false));
        Assert.Equal(20, pooled.MaxServerConnectionsFor(readWrite: true));
        Assert.Equal(0, pooled.MaxServerConnectionsFor(readWrite: false));

        var session = Load(Preauth + "read_write_server_pool_mode = SESSION\nread_write_max_server_connections = 3\nserver_idle_timeout = 0\nserver_lifetime = '0 s'\nidle_transaction_timeout = 1min\npool_wait_timeout = 250ms\nserver_reset_query = 'RESET ALL'\n");
        Assert.Equal(ServerPoolMode.Session, session.ModeFor(readWrite: true));
        Assert.Equal(ServerPoolMode.None, session.ModeFor(readWrite: false));
        Assert.Equal(3, session.MaxServerConnectionsFor(readWrite: true));
        Assert.Equal(TimeSpan.Zero, session.ServerIdleTimeout);
        Assert.Equal(TimeSpan.Zero, session.ServerLifetime);
        Assert.Equal(TimeSpan.FromMinutes(1), session.IdleTransactionTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(250), session.WaitTimeout);
        Assert.Equal("RESET ALL", session.ServerResetQuery);

        // A lost asynchronous commit is never hidden on the read-write port unless the operator says so.
        Assert.Equal(PoolFailover.Disconnect, none.FailoverFor(readWrite: true));
        Assert.Equal(PoolFailover.Reroute, none.FailoverFor(readWrite: false));
        var reroute = Load("pool_failover = reroute\n");
        Assert.Equal(PoolFailover.Reroute, reroute.FailoverFor(readWrite: true));
        Assert.Equal(PoolFailover.Disconnect, Load("pool_failover = disconnect\n").FailoverFor(readWrite: false));
    }

    [Theory]
    [InlineData("server_pool_mode = transaction\n", "server_pool_mode", "needs preauth = on")]
    [InlineData("read_only_server_pool_mode = session\n", "read_only_server_pool_mode", "needs preauth = on")]
    [InlineData("server_pool_mode = statement\n", "server_pool_mode", "must be one of")]
    [InlineData("read_write_max_server_connections = 0\n", "read_write_max_server_connections", "outside the valid range")]
    [InlineData("pool_wait_timeout = 0\n", "pool_wait_timeout", "outside the valid range")]
    [InlineData("server_idle_timeout = -1\n", "server_idle_timeout", "must be an integer")]
    [InlineData("server_reset_query = ''\n", "server_reset_query", "must not be empty")]
    public void Impossible_values_are_refused_at_load_naming_the_parameter(string text, string name, string message)
    {
        var error = Assert.Throws<ConfigException>(() => ConMgrConfigLoader.Load(Host + text, "conmgr.conf"));
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
