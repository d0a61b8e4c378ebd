// ConMgrSettings.cs: the typed contents of conmgr.conf, with the seed's defaults.
namespace ConMgr.Configuration;

/// <summary>One monitored instance: the parameters sharing one instance number.</summary>
public sealed record InstanceSettings(int Number, string? Host, string? HostAddr, int Port, int WatchdogPort)
{
    /// <summary>backend_hostaddrN wins over backend_hostN when both are set (seed 2.1.2).</summary>
    public string Address => HostAddr ?? Host ?? throw new InvalidOperationException("instance without an address");

    /// <summary>True when <see cref="Address"/> needs no name resolution.</summary>
    public bool IsNumeric => HostAddr is not null || ValueParsers.IsIpLiteral(Address);
}

/// <summary>read_only_fallback: what the read-only port does when no standby is eligible.</summary>
public enum ReadOnlyFallback
{
    /// <summary>Send the client to the primary, kept read-only by the watchdog extension.</summary>
    Primary,

    /// <summary>Refuse the client (08001).</summary>
    None,
}

/// <summary>Everything conmgr.conf can say. Defaults are those of the seed, then ConMgr's additions.</summary>
public sealed record ConMgrSettings
{
    public const int DefaultPort = 27546;
    public const int DefaultBackendPort = 27500;

    /// <summary>Longest heartbeat_interval and heartbeat_timeout: what a watchdog accepts in a Hello.</summary>
    public static readonly TimeSpan MaxHeartbeatTime = TimeSpan.FromHours(1);
    public const int DefaultWatchdogPort = 27545;

    public int Port { get; init; } = DefaultPort;

    public IReadOnlyList<InstanceSettings> Instances { get; init; } = [];

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan HeartbeatConnectInterval { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan HeartbeatConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public LogDestinations LogDestination { get; init; } = LogDestinations.Stderr;

    public SyslogFacility SyslogFacility { get; init; } = SyslogFacility.Local0;

    public string SyslogIdent { get; init; } = "conmgr";

    public MessageLevel LogMinMessages { get; init; } = MessageLevel.Warning;

    /// <summary>0 means no limit.</summary>
    public int MaxConnections { get; init; }

    // Beyond the seed (documented in docs/configuration.md).

    public IReadOnlyList<string> ListenAddresses { get; init; } = ["localhost"];

    /// <summary>read_write_listen_addresses; null: <see cref="ListenAddresses"/>.</summary>
    public IReadOnlyList<string>? ReadWriteListenAddresses { get; init; }

    /// <summary>read_only_listen_addresses; null: <see cref="ListenAddresses"/>.</summary>
    public IReadOnlyList<string>? ReadOnlyListenAddresses { get; init; }

    /// <summary>http_listen_addresses; null: <see cref="ListenAddresses"/>.</summary>
    public IReadOnlyList<string>? HttpListenAddresses { get; init; }

    /// <summary>
    /// unix_socket_directories: where the resolve port and the proxy ports also listen on a Unix
    /// socket <c>.s.PGSQL.&lt;port&gt;</c>, as PostgreSQL does; empty (the default) = none.
    /// </summary>
    public IReadOnlyList<string> UnixSocketDirectories { get; init; } = [];

    /// <summary>preauth: the proxy ports match every client against <see cref="HbaFile"/> before a server connection is opened.</summary>
    public bool Preauth { get; init; }

    /// <summary>hba_file: the rules of <see cref="Preauth"/>; relative paths are in the conmgr directory.</summary>
    public string HbaFile { get; init; } = Hba.HbaFile.DefaultName;

    /// <summary>ident_file: the user name maps of conmgr_hba.conf's map= option (pg_ident.conf's language); relative paths are in the conmgr directory.</summary>
    public string IdentFile { get; init; } = Hba.IdentFile.DefaultName;

    /// <summary>preauth_lookup_timeout: how long a login waits for the watchdog's answer to a secret lookup before it fails with 08001.</summary>
    public TimeSpan PreauthLookupTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>unix_socket_permissions: the sockets' file mode, PostgreSQL's default 0777 (pg_hba and conmgr decide, not the mode).</summary>
    public int UnixSocketPermissions { get; init; } = Convert.ToInt32("777", 8);

    /// <summary>Proxy port routed to the primary; 0 = off.</summary>
    public int ReadWritePort { get; init; }

    /// <summary>Proxy port routed to standbys; 0 = off.</summary>
    public int ReadOnlyPort { get; init; }

    /// <summary>Where the read-only port sends a client when no standby is eligible.</summary>
    public ReadOnlyFallback ReadOnlyFallback { get; init; } = ReadOnlyFallback.Primary;

    /// <summary>Standbys further behind than this take no read-only sessions (docs/configuration.md, "max_standby_lag"); off by default.</summary>
    public StandbyLagLimit MaxStandbyLag { get; init; }

    /// <summary>Bound on connecting to an instance for a client of the read-write port (TCP connect).</summary>
    public TimeSpan ReadWriteConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Bound on connecting to an instance for a client of the read-only port (TCP connect).</summary>
    public TimeSpan ReadOnlyConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>read_write_max_client_connections (PGD's name): clients the read-write port serves at once; 0 = only max_connections bounds them.</summary>
    public int ReadWriteMaxClientConnections { get; init; }

    /// <summary>read_only_max_client_connections: the same for the read-only port.</summary>
    public int ReadOnlyMaxClientConnections { get; init; }

    /// <summary>Server-side pooling on the proxy ports (server_pool_mode and its companions).</summary>
    public PoolSettings Pool { get; init; } = new();

    /// <summary>HTTP status port; 0 = off.</summary>
    public int HttpPort { get; init; }

    /// <summary>TLS on the proxy ports (re-read on SIGHUP).</summary>
    public ServerTlsSettings Ssl { get; init; } = new();

    /// <summary>TLS to the servers (re-read on SIGHUP).</summary>
    public BackendTlsSettings BackendTls { get; init; } = new();

    /// <summary>Authentication of the heartbeat links (re-read on SIGHUP; used from the next connection).</summary>
    public HeartbeatAuthSettings HeartbeatAuth { get; init; } = new();
}
