// ConMgrDataSource.cs: hands out pooled PostgreSQL connections whose instances conmgr chose (two phases), or from the host list's postmasters directly.
using System.Collections.Concurrent;
using System.Data.Common;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using ConMgr.Client.Diagnostics;
using ConMgr.Client.Pooling;
using ConMgr.Client.Resolve;
using ConMgr.Protocol.Postgres;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// A <see cref="DbDataSource"/> whose connections are plain <see cref="NpgsqlConnection"/>s from
/// one Npgsql pool per instance (<see cref="InstancePool"/>). An open takes an idle connection
/// of an instance conmgr named and has not reported lost, without asking conmgr. Otherwise it
/// walks the host list in order: a conmgr names an instance (phase one) and the connection comes
/// from that instance's pool, a new physical one taking phase one's socket as its lease; a conmgr
/// with no matching instance passes to the next entry; a postmaster is connected to directly and
/// checked against the target the way libpq does (<see cref="TargetCheck"/>). When an entry's
/// conmgr last named an instance as the only eligible one, phase two starts beside phase one
/// (<see cref="EarlyOpen"/>). docs/client.md has the whole story.
/// </summary>
public sealed partial class ConMgrDataSource : DbDataSource
{
    private static readonly ConditionalWeakTable<Socket, ConMgrChannel> Channels = new();

    /// <summary>The channel of each connection handed out, from its last open: still there once the connection broke or closed.</summary>
    private static readonly ConditionalWeakTable<NpgsqlConnection, ConMgrChannel> ByConnection = new();
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);
    private static int _breakerWarned;

    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly string _connectionString;
    private readonly IReadOnlyList<HostEntry> _hosts;
    private readonly InstanceForecast _forecast;
    private readonly InstanceDataSourceFactory _factory;
    private readonly ConcurrentDictionary<(string Host, int Port, bool Direct), InstancePool> _pools = new();

    /// <summary>The pools as an array, replaced when one is added: what every open and every sweep iterates (ConcurrentDictionary.Values would copy); <see cref="_pools"/> is for lookups.</summary>
    private InstancePool[] _poolList = [];
    private readonly Lock _poolsLock = new();
    private readonly ILogger _logger;
    private readonly ITimer _sweeper;
    private readonly TimeSpan _timeout;
    private int _cursor;
    private int _disposed;

    internal ConMgrDataSource(NpgsqlConnectionStringBuilder settings, TargetSessionAttrs target, bool openEarly, string name, InstanceDataSourceFactory factory, ILoggerFactory? loggerFactory)
    {
        _settings = settings;
        _connectionString = settings.PersistSecurityInfo ? settings.ConnectionString : new NpgsqlConnectionStringBuilder(settings.ConnectionString) { Password = null }.ConnectionString;
        _hosts = HostEntry.Parse(settings.Host!, settings.Port);
        _forecast = new InstanceForecast(_hosts.Count);
        _factory = factory;
        _timeout = TimeSpan.FromSeconds(settings.Timeout > 0 ? settings.Timeout : 15);
        _logger = loggerFactory?.CreateLogger(ClientLog.Category) ?? NullLogger.Instance;
        TargetAttributes = target;
        OpenEarly = openEarly;
        Name = name;
        if (!NpgsqlConnectionBreaker.IsSupported && Interlocked.Exchange(ref _breakerWarned, 1) == 0)
        {
            ClientLog.BreakerUnsupported(_logger, typeof(NpgsqlConnection).Assembly.GetName().Version?.ToString() ?? "?");
        }

        _sweeper = TimeProvider.System.CreateTimer(_ => Sweep(), null, SweepInterval, SweepInterval);
        ClientMetrics.Register(this);
    }

    /// <summary>The connection string, without its password unless <c>Persist Security Info</c> says so (as Npgsql's data sources).</summary>
    public override string ConnectionString => _connectionString;

    /// <summary>The name in metrics and logs (<see cref="ConMgrDataSourceBuilder.Name"/>).</summary>
    public string Name { get; }

    /// <summary>The target asked of conmgr: <c>Target Session Attributes</c>, default <c>any</c>.</summary>
    public string Target => TargetAttributes.Name();

    /// <summary>The same target in Npgsql's terms.</summary>
    public TargetSessionAttributes TargetSessionAttributes => TargetAttributes.ToNpgsql();

    /// <summary>Whether phase two may start beside phase one (<see cref="ConMgrDataSourceBuilder.OpenEarly"/>).</summary>
    public bool OpenEarly { get; }

    /// <summary>Npgsql's <c>Pooling</c> (default true): false makes every open a new physical connection.</summary>
    public bool Pooling => _factory.Pooling;

    internal TargetSessionAttrs TargetAttributes { get; }

    public static ConMgrDataSource Create(string connectionString) => new ConMgrDataSourceBuilder(connectionString).Build();

    /// <summary>
    /// The conmgr channel of a connection made through conmgr, from its last open (so also once it
    /// broke or closed); null for a direct connection (the seed's PQcmSocket = −1).
    /// </summary>
    public static ConMgrChannel? GetChannel(NpgsqlConnection connection) =>
        ByConnection.TryGetValue(connection ?? throw new ArgumentNullException(nameof(connection)), out var channel) ? channel : null;

    /// <summary>
    /// An unopened connection, bound to one instance's pool chosen now, without I/O when the data
    /// source already knows a live instance (one with idle connections, the forecast, the least
    /// loaded); only the very first call opens one connection to learn one, and gives it back to
    /// the pool. Opening it later takes an idle connection or makes a new one that conmgr is
    /// asked to confirm (a pinned request): if the instance was lost in between, the open fails
    /// with a transient error and a new connection must be created. docs/client.md explains why
    /// an unopened Npgsql connection cannot choose its instance at open.
    /// </summary>
    public new NpgsqlConnection CreateConnection()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var pool = Array.Find(Volatile.Read(ref _poolList), p => p.CanLend) ?? ForecastPool() ?? LivePools().MinBy(p => p.Physical);
        if (pool is null)
        {
            var (probe, learned) = OpenCoreAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
            probe.Dispose();
            pool = learned;
        }

        return pool.CreateConnection();
    }

    public new NpgsqlConnection OpenConnection() => OpenConnectionAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public new async ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ClientMetrics.PendingChanged(Name, 1);
        try
        {
            return (await OpenCoreAsync(cancellationToken)).Connection;
        }
        finally
        {
            ClientMetrics.PendingChanged(Name, -1);
        }
    }

    /// <summary>Evicts every idle connection of every instance, as <see cref="NpgsqlDataSource.Clear"/>; connections in use close when returned.</summary>
    public void Clear()
    {
        foreach (var pool in Volatile.Read(ref _poolList))
        {
            pool.Clear();
        }
    }

    /// <summary>Per instance pool: name, address, idle and used connections (for the pool metrics).</summary>
    internal IEnumerable<(string Name, string Host, int Port, int Idle, int Used)> PoolCounts() =>
        Volatile.Read(ref _poolList).Select(p => (Name, p.Host, p.Port, p.Idle, p.InUse));

    protected override DbConnection CreateDbConnection() => CreateConnection();

    protected override DbConnection OpenDbConnection() => OpenConnection();

    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        await OpenConnectionAsync(cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeAsyncCore().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await base.DisposeAsyncCore();
            return;
        }

        await _sweeper.DisposeAsync();
        ClientMetrics.Unregister(this);
        foreach (var pool in Volatile.Read(ref _poolList))
        {
            await pool.DisposeAsync();
        }

        await base.DisposeAsyncCore();
    }

    private InstancePool PoolFor(string host, int port, bool direct)
    {
        if (_pools.TryGetValue((host, port, direct), out var pool))
        {
            return pool;
        }

        // Created under a lock: a losing racer's pool would hold an Npgsql data source nobody disposes.
        lock (_poolsLock)
        {
            var added = _pools.GetOrAdd((host, port, direct), key =>
                new InstancePool(key.Host, key.Port, key.Direct, Pooling, p => _factory.Build(key.Host, key.Port, $"{Name}/{p}", c => AttachAsync(p, c)), Remember));
            if (Array.IndexOf(_poolList, added) < 0)
            {
                Volatile.Write(ref _poolList, [.. _poolList, added]);
            }

            return added;
        }
    }

    /// <summary>On every open: which lease the connection's physical connection has, for <see cref="GetChannel"/>.</summary>
    private static void Remember(NpgsqlConnection connection)
    {
        if (NpgsqlConnectionBreaker.ServerSocketOf(connection) is { } server && Channels.TryGetValue(server, out var channel))
        {
            ByConnection.AddOrUpdate(connection, channel);
        }
        else
        {
            ByConnection.Remove(connection);
        }
    }

    private void Sweep()
    {
        foreach (var pool in Volatile.Read(ref _poolList))
        {
            pool.Sweep();
        }
    }

    private static async Task DisposeAsync(NpgsqlConnection? connection)
    {
        if (connection is not null)
        {
            await connection.DisposeAsync();
        }
    }
}
