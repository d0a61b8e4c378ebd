// InstancePool.cs: a data source's connections to one instance: Npgsql's own pool, plus one conmgr lease per physical connection.
using System.Collections.Concurrent;
using Npgsql;

namespace ConMgr.Client.Pooling;

/// <summary>
/// One instance (host:port) as a data source sees it. The connections are an ordinary pooled
/// <see cref="NpgsqlDataSource"/> built from the application's <see cref="NpgsqlDataSourceBuilder"/>
/// with this instance's address, so pooling, type plugins, logging and password providers are
/// Npgsql's own. Each physical connection made through conmgr holds its own conmgr socket, its
/// lease (<see cref="ConMgrChannel"/>), attached by the physical connection initializer: conmgr
/// counts the connection against the instance for load balancing, and reports on it when the
/// instance is lost or stops matching the target. A report marks the whole pool lost: its idle
/// connections are evicted at once (<see cref="NpgsqlDataSource.Clear"/>) and those in use are
/// broken, so no connection to the instance is handed out again until conmgr names it again.
/// A <see cref="Direct"/> pool is a postmaster of the host list, connected without conmgr.
/// </summary>
internal sealed class InstancePool : IAsyncDisposable
{
    private readonly ConcurrentDictionary<ConMgrChannel, byte> _leases = new();
    private readonly NpgsqlDataSource _npgsql;
    private readonly bool _pooling;
    private readonly Action<NpgsqlConnection>? _opened;
    private string? _lostReason;
    private int _inUse;
    private int _entry = -1;
    private int _number = -1;

    /// <param name="opened">Runs each time one of this pool's connections opens (its physical connection and lease are known by then).</param>
    public InstancePool(string host, int port, bool direct, bool pooling, Func<InstancePool, NpgsqlDataSource> build, Action<NpgsqlConnection>? opened = null)
    {
        Host = host;
        Port = port;
        Direct = direct;
        _pooling = pooling;
        _opened = opened;
        _npgsql = build(this);
    }

    public string Host { get; }

    public int Port { get; }

    /// <summary>A postmaster of the host list: no conmgr, no leases.</summary>
    public bool Direct { get; }

    /// <summary>conmgr's number for the instance (backend_hostN), from its last answer; null before one.</summary>
    public int? Number => Volatile.Read(ref _number) is >= 0 and var n ? n : null;

    /// <summary>The host list entry whose conmgr named this instance last; -1 before one.</summary>
    public int Entry => Volatile.Read(ref _entry);

    /// <summary>Named by conmgr and not reported lost since: its idle connections may be handed out without asking conmgr.</summary>
    public bool IsLive => !Direct && Number is not null && Volatile.Read(ref _lostReason) is null;

    /// <summary>Why conmgr last reported the instance lost; null while live.</summary>
    public string? LostReason => Volatile.Read(ref _lostReason);

    /// <summary>Physical connections with a lease: what conmgr counts against the instance for this data source.</summary>
    public int Physical => _leases.Count;

    /// <summary>Connections handed out and not yet closed.</summary>
    public int InUse => Volatile.Read(ref _inUse);

    /// <summary>Physical connections not in use, as far as this pool can tell without asking Npgsql.</summary>
    public int Idle => Math.Max(0, Physical - InUse);

    /// <summary>Live, with an idle connection: an open may take one without asking conmgr.</summary>
    public bool CanLend => IsLive && Idle > 0;

    /// <summary>conmgr (at host list entry <paramref name="entry"/>) named this instance as number <paramref name="number"/>: it is live again.</summary>
    public void Named(int entry, int number)
    {
        Volatile.Write(ref _entry, entry);
        Volatile.Write(ref _number, number);
        Volatile.Write(ref _lostReason, null);
    }

    /// <summary>An unopened connection bound to this instance's pool.</summary>
    public NpgsqlConnection CreateConnection() => Track(_npgsql.CreateConnection());

    /// <summary>Opens a connection of this pool: an idle one if Npgsql has one, else a new physical one, which takes <paramref name="lease"/>.</summary>
    public async ValueTask<NpgsqlConnection> OpenAsync(PendingLease? lease, CancellationToken cancellationToken)
    {
        var connection = CreateConnection();
        if (lease is not null || PendingLease.Current.Value is not null)
        {
            // Only when it changes: setting an AsyncLocal copies the execution context, on every pooled open.
            PendingLease.Current.Value = lease;
        }

        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public void Attach(ConMgrChannel lease) => _leases[lease] = 0;

    /// <summary>
    /// conmgr reported the instance lost (or conmgr went away): every lease learns it, idle
    /// connections are evicted, connections in use are broken. Returns how many leases there
    /// were, or null when the pool was already lost (another lease's report came first).
    /// </summary>
    public int? ReportLost(string reason)
    {
        if (Interlocked.CompareExchange(ref _lostReason, reason, null) is not null)
        {
            return null;
        }

        // Evict first: a connection broken while still idle would be handed out broken.
        _npgsql.Clear();
        var count = 0;
        foreach (var lease in _leases.Keys)
        {
            lease.Lose(reason);
            count++;
        }

        return count;
    }

    /// <summary>Closes the leases of physical connections Npgsql has closed (pruned, broken, past their lifetime).</summary>
    public void Sweep()
    {
        foreach (var lease in _leases.Keys)
        {
            if (lease.ServerClosed)
            {
                _leases.TryRemove(lease, out _);
                lease.Close();
            }
        }
    }

    /// <summary>Evicts the idle connections (<see cref="NpgsqlDataSource.Clear"/>); connections in use are closed when returned.</summary>
    public void Clear() => _npgsql.Clear();

    public async ValueTask DisposeAsync()
    {
        await _npgsql.DisposeAsync();
        foreach (var lease in _leases.Keys)
        {
            lease.Close();
        }

        _leases.Clear();
    }

    public override string ToString() => Resolve.HostEntry.Format(Host, Port);

    /// <summary>Counts connections in use, from Npgsql's own state events (both opens made here and those of <see cref="CreateConnection"/>).</summary>
    private NpgsqlConnection Track(NpgsqlConnection connection)
    {
        var open = 0;
        connection.StateChange += (_, e) =>
        {
            if (e.CurrentState == System.Data.ConnectionState.Open)
            {
                if (Interlocked.Exchange(ref open, 1) == 0)
                {
                    Interlocked.Increment(ref _inUse);
                }

                _opened?.Invoke(connection);
            }
            else if (e.CurrentState is System.Data.ConnectionState.Closed or System.Data.ConnectionState.Broken && Interlocked.Exchange(ref open, 0) == 1)
            {
                Interlocked.Decrement(ref _inUse);
                if (!_pooling || e.CurrentState == System.Data.ConnectionState.Broken)
                {
                    // The physical connection is gone with the logical one: tell conmgr now, not at the next sweep.
                    Sweep();
                }
            }
        };
        return connection;
    }
}
