// PoolSettings.cs: server-side pooling on the proxy ports: the mode of each port, its server connection limit, the timeouts, and what pooling does with state it cannot move.
namespace ConMgr.Configuration;

/// <summary>server_pool_mode (PGD's name and values): how a proxy port hands out server connections.</summary>
public enum ServerPoolMode
{
    /// <summary>One server connection per client, opened for it and closed with it; bytes relayed as they come.</summary>
    None,

    /// <summary>A pooled server connection is the client's for its life, reset (server_reset_query) and kept when the client leaves.</summary>
    Session,

    /// <summary>A pooled server connection is the client's for one transaction; session state is carried over or pins the client.</summary>
    Transaction,
}

/// <summary>pool_failover: what a pooled client between transactions gets when its instance stops serving its port.</summary>
public enum PoolFailover
{
    /// <summary>FATAL 57P01 at once, as a client of the none mode gets.</summary>
    Disconnect,

    /// <summary>Nothing: its next transaction goes to an instance eligible now, with its prepared statements and parameters.</summary>
    Reroute,
}

/// <summary>The pooling parameters of conmgr.conf; the per-port values override the shared ones.</summary>
public sealed record PoolSettings
{
    /// <summary>Server connections per instance for a pooling port when its *_max_server_connections is not set.</summary>
    public const int DefaultMaxServerConnections = 20;

    /// <summary>server_pool_mode: both ports unless overridden.</summary>
    public ServerPoolMode Mode { get; init; } = ServerPoolMode.None;

    /// <summary>read_write_server_pool_mode; null: <see cref="Mode"/>.</summary>
    public ServerPoolMode? ReadWriteMode { get; init; }

    /// <summary>read_only_server_pool_mode; null: <see cref="Mode"/>.</summary>
    public ServerPoolMode? ReadOnlyMode { get; init; }

    /// <summary>read_write_max_server_connections (PGD's name): server connections per instance for the read-write port; null: 20 when pooling.</summary>
    public int? ReadWriteMaxServerConnections { get; init; }

    /// <summary>read_only_max_server_connections: the same for the read-only port.</summary>
    public int? ReadOnlyMaxServerConnections { get; init; }

    /// <summary>pool_wait_timeout: a client waiting that long for a server connection gets 53300.</summary>
    public TimeSpan WaitTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>server_idle_timeout (PgBouncer's): an idle pooled server connection older than this in the pool is closed; zero: never.</summary>
    public TimeSpan ServerIdleTimeout { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>server_lifetime (PgBouncer's): a server connection this old is closed when it is next idle; zero: never.</summary>
    public TimeSpan ServerLifetime { get; init; } = TimeSpan.FromSeconds(3600);

    /// <summary>idle_transaction_timeout (PgBouncer's): a pooled client idle inside a transaction that long is ended; zero: never.</summary>
    public TimeSpan IdleTransactionTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>server_reset_query: run on a session-mode server connection when its client leaves, and after a pin.</summary>
    public string ServerResetQuery { get; init; } = "DISCARD ALL";

    /// <summary>pool_failover; null: disconnect on the read-write port (a lost asynchronous commit is never hidden), reroute on the read-only port.</summary>
    public PoolFailover? Failover { get; init; }

    public ServerPoolMode ModeFor(bool readWrite) => (readWrite ? ReadWriteMode : ReadOnlyMode) ?? Mode;

    /// <summary>The port's server connections per instance; 0 (no limit) for a port that does not pool.</summary>
    public int MaxServerConnectionsFor(bool readWrite) =>
        ModeFor(readWrite) == ServerPoolMode.None ? 0 : (readWrite ? ReadWriteMaxServerConnections : ReadOnlyMaxServerConnections) ?? DefaultMaxServerConnections;

    public PoolFailover FailoverFor(bool readWrite) => Failover ?? (readWrite ? PoolFailover.Disconnect : PoolFailover.Reroute);

    /// <summary>True when either port pools.</summary>
    public bool Pooling => ModeFor(true) != ServerPoolMode.None || ModeFor(false) != ServerPoolMode.None;
}
