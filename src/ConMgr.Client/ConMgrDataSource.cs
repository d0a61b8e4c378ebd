// ConMgrDataSource.cs: hands out pooled PostgreSQL connections whose instances conmgr chose (two phases), or from the host list's postmasters directly.
using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
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
public sealed class ConMgrDataSource : DbDataSource
{
    private static readonly ConditionalWeakTable<Socket, ConMgrChannel> Channels = new();

    /// <summary>The channel of each connection handed out, from its last open: still there once the connection broke or closed.</summary>
    private static readonly ConditionalWeakTable<NpgsqlConnection, ConMgrChannel> ByConnection = new();
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);
    private static int _breakerWarned;

    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly IReadOnlyList<HostEntry> _hosts;
    private readonly InstanceForecast _forecast;
    private readonly InstanceDataSourceFactory _factory;
    private readonly ConcurrentDictionary<(string Host, int Port, bool Direct), InstancePool> _pools = new();

    /// <summary>The pools as an array, replaced when one is added: read on every open, where ConcurrentDictionary.Values would copy.</summary>
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
    public override string ConnectionString =>
        _settings.PersistSecurityInfo ? _settings.ConnectionString : new NpgsqlConnectionStringBuilder(_settings.ConnectionString) { Password = null }.ConnectionString;

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
        var pool = IdlePools().FirstOrDefault() ?? ForecastPool() ?? LivePools().MinBy(p => p.Physical);
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
        foreach (var pool in _pools.Values)
        {
            pool.Clear();
        }
    }

    /// <summary>Per instance pool: name, address, idle and used connections (for the pool metrics).</summary>
    internal IEnumerable<(string Name, string Host, int Port, int Idle, int Used)> PoolCounts() =>
        _pools.Values.Select(p => (Name, p.Host, p.Port, p.Idle, p.InUse));

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
        foreach (var pool in _pools.Values)
        {
            await pool.DisposeAsync();
        }

        await base.DisposeAsyncCore();
    }

    private async ValueTask<(NpgsqlConnection Connection, InstancePool Pool)> OpenCoreAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        if (Pooling && await OpenIdleAsync(started, cancellationToken) is { } pooled)
        {
            return pooled;
        }

        var failures = new List<(string Text, Exception? Error)>();
        (NpgsqlConnection Connection, InstancePool Pool, HostEntry Entry)? fallback = null;
        for (var index = 0; index < _hosts.Count; index++)
        {
            var entry = _hosts[index];
            var (outcome, early) = await AskAsync(index, cancellationToken);
            switch (outcome)
            {
                case ResolveOutcome.Resolved resolved:
                    if (await OpenResolvedAsync(index, resolved, early, failures, cancellationToken) is not var (connection, pool, openedEarly))
                    {
                        continue;
                    }

                    await DisposeAsync(fallback?.Connection);
                    ClientMetrics.RecordOpen(openedEarly ? ClientMetrics.OpenedEarly : ClientMetrics.OpenedAfterAnswer, entry.Host, entry.Port, started);
                    return (connection, pool);
                case ResolveOutcome.Postmaster:
                    ClientLog.Postmaster(_logger, entry.ToString());
                    var directPool = PoolFor(entry.Host, entry.Port, direct: true);
                    var opened = await OpenAsync(directPool, null, cancellationToken);
                    if (opened.Connection is not { } direct)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        failures.Add(($"{entry} (PostgreSQL): {opened.Error}", opened.Exception));
                        continue;
                    }

                    switch (await TargetCheck.EvaluateAsync(direct, TargetAttributes, cancellationToken))
                    {
                        case TargetFit.Match:
                            await DisposeAsync(fallback?.Connection);
                            ClientMetrics.RecordOpen(ClientMetrics.OpenedDirect, entry.Host, entry.Port, started);
                            return (direct, directPool);
                        case TargetFit.Fallback when fallback is null:
                            fallback = (direct, directPool, entry);
                            break;
                        default:
                            failures.Add(($"{entry} (PostgreSQL): does not match target_session_attrs={Target}", null));
                            await direct.DisposeAsync();
                            break;
                    }

                    continue;
                case ResolveOutcome.Refused refused:
                    Forget(index, "conmgr refused");
                    ClientLog.Refused(_logger, entry.ToString(), Target, refused.SqlState, refused.Message);
                    failures.Add(($"{entry} (conmgr): {refused.SqlState} {refused.Message}", null));
                    continue;
                case ResolveOutcome.Unreachable unreachable:
                    Forget(index, "conmgr unreachable");
                    ClientLog.Unreachable(_logger, entry.ToString(), unreachable.Reason);
                    failures.Add(($"{entry}: {unreachable.Reason}", null));
                    continue;
            }
        }

        // prefer-standby / prefer-primary: nothing preferred anywhere, so the acceptable one it is (libpq's second pass).
        if (fallback is var (kept, keptPool, keptEntry))
        {
            ClientMetrics.RecordOpen(ClientMetrics.OpenedDirect, keptEntry.Host, keptEntry.Port, started);
            return (kept, keptPool);
        }

        var text = string.Join("; ", failures.Select(f => f.Text));
        ClientLog.NoHost(_logger, Target, text);
        if (failures is [{ Error: { } only }])
        {
            // One entry, one error of Npgsql's (authentication, an exhausted pool, ...): exactly what Npgsql would have thrown.
            ExceptionDispatchInfo.Throw(only);
        }

        throw new NpgsqlException(
            $"could not connect to any host for target_session_attrs={Target}: {text}",
            new IOException("no host in the list could serve the request"));
    }

    /// <summary>An idle connection of a live instance, without asking conmgr; null when there is none.</summary>
    private async ValueTask<(NpgsqlConnection, InstancePool)?> OpenIdleAsync(long started, CancellationToken cancellationToken)
    {
        var pools = Volatile.Read(ref _poolList);
        var start = pools.Length > 1 ? (int)((uint)Interlocked.Increment(ref _cursor) % (uint)pools.Length) : 0;
        for (var i = 0; i < pools.Length; i++)
        {
            var pool = pools[(start + i) % pools.Length];
            if (!pool.IsLive || pool.Idle == 0)
            {
                continue;
            }

            NpgsqlConnection connection;
            try
            {
                connection = await pool.OpenAsync(null, cancellationToken);
            }
            catch (NpgsqlException) when (!cancellationToken.IsCancellationRequested)
            {
                // The idle count was stale and the new physical connection was not confirmed, or the instance went away: go on.
                continue;
            }

            if (_logger.IsEnabled(LogLevel.Debug))
            {
                ClientLog.PooledOpen(_logger, pool.ToString());
            }

            var entry = _hosts[Math.Max(0, pool.Entry)];
            ClientMetrics.RecordOpen(ClientMetrics.OpenedPooled, entry.Host, entry.Port, started);
            return (connection, pool);
        }

        return null;
    }

    /// <summary>Live instances with idle connections (for <see cref="CreateConnection"/>).</summary>
    private IEnumerable<InstancePool> IdlePools() => LivePools().Where(p => p.Idle > 0);

    private IEnumerable<InstancePool> LivePools() => Volatile.Read(ref _poolList).Where(p => p.IsLive);

    private InstancePool? ForecastPool()
    {
        for (var index = 0; index < _hosts.Count; index++)
        {
            if (_forecast.Predict(index) is { } next && _pools.TryGetValue((next.Host, next.Port, false), out var pool) && pool.IsLive)
            {
                return pool;
            }
        }

        return null;
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

    /// <summary>
    /// Phase one with entry <paramref name="index"/>, with an early open to the forecast instance
    /// beside it. The early open is returned only with a conmgr answer; otherwise it is abandoned here.
    /// </summary>
    private async Task<(ResolveOutcome Outcome, EarlyOpen? Early)> AskAsync(int index, CancellationToken cancellationToken)
    {
        EarlyOpen? early = null;
        if (OpenEarly && _forecast.Predict(index) is { } forecast)
        {
            ClientLog.EarlyOpenStarted(_logger, $"{forecast.Host}:{forecast.Port}");
            early = EarlyOpen.Start(PoolFor(forecast.Host, forecast.Port, direct: false), OpenAsync, cancellationToken);
        }

        ResolveOutcome outcome;
        try
        {
            outcome = await ResolveAsync(_hosts[index], null, cancellationToken);
        }
        catch
        {
            early?.Abandon();
            throw;
        }

        if (outcome is ResolveOutcome.Resolved)
        {
            return (outcome, early);
        }

        if (early is not null)
        {
            ClientLog.EarlyOpenAbandoned(_logger, $"{early.Host}:{early.Port}", "conmgr named no instance");
            early.Abandon();
        }

        return (outcome, null);
    }

    private Task<ResolveOutcome> ResolveAsync(HostEntry entry, int? pinned, CancellationToken cancellationToken)
    {
        var user = _settings.Username ?? Environment.UserName;
        return ResolveClient.ResolveAsync(entry, user, _settings.Database ?? user, Target, _timeout, cancellationToken, pinned);
    }

    /// <summary>Phase two for a conmgr answer: the early open if it went to that instance, the instance's pool otherwise; null if it failed.</summary>
    private async Task<(NpgsqlConnection Connection, InstancePool Pool, bool OpenedEarly)?> OpenResolvedAsync(int index, ResolveOutcome.Resolved resolved, EarlyOpen? early, List<(string, Exception?)> failures, CancellationToken cancellationToken)
    {
        var entry = _hosts[index];
        var instance = resolved.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        ClientLog.Resolved(_logger, entry.ToString(), Target, resolved.Number, $"{resolved.Host}:{instance}", resolved.Candidates);
        RecordForecast(index, resolved);
        var pool = PoolFor(resolved.Host, resolved.Port, direct: false);
        pool.Named(index, resolved.Number);

        OpenResult? taken = null;
        PendingLease? lease = null;
        if (early is not null && early.IsFor(resolved.Host, resolved.Port))
        {
            taken = await early.TakeAsync(resolved.Socket);
            lease = taken is null ? null : early.Lease;
        }
        else if (early is not null)
        {
            ClientLog.EarlyOpenAbandoned(_logger, $"{early.Host}:{early.Port}", $"conmgr named {resolved.Host}:{instance}");
            early.Abandon();
        }

        var openedEarly = taken is not null;
        if (taken is null)
        {
            lease = new PendingLease(pool, early: false);
            lease.Answer(resolved.Socket);
        }

        var opened = taken ?? await OpenAsync(pool, lease!, cancellationToken);

        // Npgsql handed out an idle connection (returned meanwhile), or failed before a physical
        // connection took the socket: conmgr must not count a connection that does not exist.
        if (lease!.TryReclaim())
        {
            resolved.Socket.Dispose();
        }

        if (opened.Connection is not { } connection)
        {
            Forget(index, "phase two failed");
            cancellationToken.ThrowIfCancellationRequested();
            failures.Add(($"{entry} sent us to {resolved.Host}:{instance}: {opened.Error}", opened.Exception));
            return null;
        }

        return (connection, pool, openedEarly);
    }

    private void RecordForecast(int index, ResolveOutcome.Resolved resolved)
    {
        var before = _forecast.Predict(index);
        _forecast.Record(index, resolved.Host, resolved.Port, resolved.Candidates);
        var after = _forecast.Predict(index);
        if (after is { } next && after != before)
        {
            ClientLog.ForecastSet(_logger, _hosts[index].ToString(), $"{next.Host}:{next.Port}");
        }
        else if (after is null && before is not null)
        {
            ClientLog.ForecastCleared(_logger, _hosts[index].ToString(), $"{resolved.Candidates?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an unknown number of"} candidates");
        }
    }

    private void Forget(int index, string why)
    {
        if (_forecast.Predict(index) is not null)
        {
            _forecast.Forget(index);
            ClientLog.ForecastCleared(_logger, _hosts[index].ToString(), why);
        }
    }

    /// <summary>An open from <paramref name="pool"/> that reports failure as a result, not an exception (cancellation included).</summary>
    private static async Task<OpenResult> OpenAsync(InstancePool pool, PendingLease? lease, CancellationToken cancellationToken)
    {
        try
        {
            return new OpenResult(await pool.OpenAsync(lease, cancellationToken), null);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException)
        {
            return new OpenResult(null, ex.Message, ex is NpgsqlException ? ex : null);
        }
    }

    /// <summary>
    /// The physical connection initializer's first step, on every new server connection: give it
    /// its conmgr lease. The open that asked conmgr passes its socket down (<see cref="PendingLease"/>);
    /// an open that did not ask (an idle count gone stale, a connection from
    /// <see cref="CreateConnection"/>) asks conmgr to confirm this instance (a pinned request).
    /// Throwing fails the physical open: Npgsql closes it and the caller sees the exception.
    /// </summary>
    private async Task AttachAsync(InstancePool pool, NpgsqlConnection physical)
    {
        if (pool.Direct)
        {
            return;
        }

        var server = NpgsqlConnectionBreaker.ServerSocketOf(physical);
        Socket conmgr;
        var early = false;
        if (PendingLease.Current.Value is { } pending && pending.Pool == pool && pending.TryTake())
        {
            using var wait = new CancellationTokenSource(_timeout);
            Socket? answered;
            try
            {
                answered = await pending.SocketAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                pending.CloseWhenAnswered();
                throw new NpgsqlException($"conmgr's answer for {pool} did not come within {_timeout.TotalSeconds:0.###} s", new TimeoutException());
            }

            conmgr = answered ?? throw new NpgsqlException($"conmgr named another instance than {pool}", new IOException("early open abandoned"));
            early = pending.Early;
        }
        else
        {
            conmgr = await PinAsync(pool);
        }

        var entry = _hosts[Math.Max(0, pool.Entry)];
        var channel = new ConMgrChannel(conmgr, server, entry, pool.Number ?? -1, early, (lease, reason) => OnReport(pool, lease, reason));
        pool.Attach(channel);
        if (server is null)
        {
            ClientMetrics.RecordUnbreakable(pool.Host, pool.Port);
        }
        else
        {
            Channels.AddOrUpdate(server, channel);
        }

        ClientLog.LeaseAttached(_logger, pool.ToString(), physical.ProcessID, entry.ToString());
    }

    /// <summary>Asks the conmgr that named <paramref name="pool"/>'s instance whether it is still right for the target; its socket on success.</summary>
    private async Task<Socket> PinAsync(InstancePool pool)
    {
        if (pool.Entry < 0 || pool.Number is not { } number)
        {
            throw new NpgsqlException($"no conmgr has named {pool} yet", new IOException("instance unknown to conmgr"));
        }

        var entry = _hosts[pool.Entry];
        var outcome = await ResolveAsync(entry, number, CancellationToken.None);
        string reason;
        switch (outcome)
        {
            case ResolveOutcome.Resolved resolved when resolved.Number == number && resolved.Host == pool.Host && resolved.Port == pool.Port:
                pool.Named(pool.Entry, number);
                return resolved.Socket;
            case ResolveOutcome.Resolved resolved:
                resolved.Socket.Dispose();
                reason = $"conmgr named instance {resolved.Number} ({resolved.Host}:{resolved.Port}) instead";
                break;
            case ResolveOutcome.Refused refused:
                reason = $"{refused.SqlState} {refused.Message}";
                break;
            case ResolveOutcome.Unreachable unreachable:
                reason = unreachable.Reason;
                break;
            default:
                reason = "a PostgreSQL server answers there now, not conmgr";
                break;
        }

        ClientLog.PinRefused(_logger, entry.ToString(), pool.ToString(), Target, reason);
        OnReport(pool, null, reason);
        throw new NpgsqlException($"conmgr at {entry} did not confirm {pool} for target_session_attrs={Target}: {reason}", new IOException(reason));
    }

    /// <summary>conmgr reported the instance lost (or went away, or would not confirm it): evict and break everything on it.</summary>
    private void OnReport(InstancePool pool, ConMgrChannel? reporter, string reason)
    {
        // A lost instance must not be opened early again: forgotten before any Lost token tells anyone.
        if (pool.Entry >= 0)
        {
            Forget(pool.Entry, $"instance {pool} lost");
        }

        if (pool.ReportLost(reason) is not { } connections)
        {
            reporter?.Lose(reason);
            return;
        }

        var entry = _hosts[Math.Max(0, pool.Entry)];
        ClientMetrics.RecordLost(entry.Host, entry.Port, connections);
        ClientLog.InstanceLost(_logger, pool.ToString(), Target, reason, connections);
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
        foreach (var pool in _pools.Values)
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
