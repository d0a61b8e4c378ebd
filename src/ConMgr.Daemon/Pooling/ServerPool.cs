// ServerPool.cs: the server connections of both proxy ports, per (instance, database, role): idle lists, per-port limits, waiting clients, timeouts.
using ConMgr.Configuration;
using ConMgr.Daemon.Proxy;
using ConMgr.Hosting.Logging;

namespace ConMgr.Daemon.Pooling;

/// <summary>What a client waiting for a server connection gets: an idle connection of its pool, or leave to open one.</summary>
public readonly record struct ServerLease(PooledServer? Server);

/// <summary>
/// Every pooled server connection. A port's limit (read_write_/read_only_max_server_connections)
/// counts connections per instance, open or opening, across all of that port's pools on the
/// instance: a client whose pool has no idle connection opens one while the count is below the
/// limit, takes the place of an idle connection of another pool (closed for it) when there is
/// one, and otherwise waits, first come first served, until pool_wait_timeout. Idle connections
/// are reused last in, first out (the warmest caches), closed after server_idle_timeout in the
/// pool or at their first return after server_lifetime, and closed at once when their instance
/// stops serving the port. One lock guards it all; nothing under it waits.
/// </summary>
public sealed class ServerPool : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<PoolKey, Stack<PooledServer>> _idle = [];
    private readonly Dictionary<(ProxyPort Port, int Instance), int> _counts = [];
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly PoolSettings _settings;
    private readonly TimeProvider _time;
    private readonly ServerLog _log;
    private readonly ITimer _sweeper;
    private readonly Func<PoolKey, bool> _serves;

    /// <param name="serves">Whether a pool's instance still serves its port (routable, the role the port asks for).</param>
    public ServerPool(PoolSettings settings, TimeProvider time, ServerLog log, Func<PoolKey, bool> serves)
    {
        _serves = serves;
        _settings = settings;
        _time = time;
        _log = log;
        _sweeper = time.CreateTimer(_ => Sweep(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Server connections (open or opening) of a port on an instance.</summary>
    public int Count(ProxyPort port, int instance)
    {
        lock (_gate)
        {
            return _counts.GetValueOrDefault((port, instance));
        }
    }

    /// <summary>Idle connections and waiting clients per pool, for status and metrics.</summary>
    public IReadOnlyDictionary<PoolKey, (int Idle, int Waiting)> Snapshot()
    {
        lock (_gate)
        {
            var result = _idle.Where(p => p.Value.Count > 0).ToDictionary(p => p.Key, p => (p.Value.Count, 0));
            foreach (var waiter in _waiters)
            {
                var (idle, waiting) = result.GetValueOrDefault(waiter.Key);
                result[waiter.Key] = (idle, waiting + 1);
            }

            return result;
        }
    }

    /// <summary>
    /// An idle connection of <paramref name="key"/>'s pool, or a place to open one (the caller
    /// opens it and calls <see cref="Opened"/> or <see cref="OpenFailed"/>). Waits at most
    /// pool_wait_timeout; null when that passed.
    /// </summary>
    public async Task<ServerLease?> AcquireAsync(PoolKey key, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_gate)
        {
            if (TakeLocked(key) is { } lease)
            {
                return lease;
            }

            waiter = new Waiter(key);
            waiter.Node = _waiters.AddLast(waiter);
        }

        using var timeout = new CancellationTokenSource(_settings.WaitTimeout, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        await using (either.Token.Register(() => Abandon(waiter)))
        {
            var granted = await waiter.Granted.Task;
            return granted;
        }
    }

    /// <summary>Opening failed: the place is free again.</summary>
    public void OpenFailed(PoolKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            FreePlaceLocked(key.Port, key.InstanceIndex);
        }
    }

    /// <summary>
    /// A client is done with <paramref name="server"/>: reusable (at ReadyForQuery idle, nothing
    /// pending, reset where needed) or not. A reusable connection goes to the first client waiting
    /// for its pool, or to the idle list.
    /// </summary>
    public void Release(PooledServer server, bool reusable)
    {

        ArgumentNullException.ThrowIfNull(server);
        var now = _time.GetUtcNow();
        if (reusable && (server.IsClosed || !_serves(server.Key) || Expired(server, now)))
        {
            reusable = false;
        }

        lock (_gate)
        {
            if (!reusable)
            {
                server.Close();
                FreePlaceLocked(server.Key.Port, server.Key.InstanceIndex);
                return;
            }

            for (var node = _waiters.First; node is not null; node = node.Next)
            {
                if (node.Value.Key == server.Key)
                {
                    _waiters.Remove(node);
                    server.State = PooledServerState.Linked;
                    node.Value.Granted.TrySetResult(new ServerLease(server));
                    return;
                }
            }

            // A client of another pool on this port and instance waits: this connection makes way for it.
            for (var node = _waiters.First; node is not null; node = node.Next)
            {
                if (node.Value.Key.Port == server.Key.Port && node.Value.Key.InstanceIndex == server.Key.InstanceIndex)
                {
                    _waiters.Remove(node);
                    server.Close();
                    node.Value.Granted.TrySetResult(new ServerLease(null));
                    return;
                }
            }

            server.State = PooledServerState.Idle;
            server.IdleSince = now;
            if (!_idle.TryGetValue(server.Key, out var stack))
            {
                stack = new Stack<PooledServer>();
                _idle[server.Key] = stack;
            }

            stack.Push(server);

            // Under the lock: a client that takes the connection next must find the watch to stop.
            server.Watch = WatchAsync(server);
        }
    }

    /// <summary>Closes every idle connection whose instance no longer serves its port (its heartbeat was lost, or its role changed); linked ones are closed by their clients' sessions.</summary>
    public int DropUnserved()
    {
        var dropped = new List<PooledServer>();
        lock (_gate)
        {
            foreach (var (key, stack) in _idle)
            {
                if (!_serves(key))
                {
                    dropped.AddRange(stack);
                    stack.Clear();
                }
            }

            foreach (var server in dropped)
            {
                FreePlaceLocked(server.Key.Port, server.Key.InstanceIndex);
            }
        }

        foreach (var server in dropped)
        {
            server.Close();
        }

        return dropped.Count;
    }

    public void Dispose()
    {
        _sweeper.Dispose();
        List<PooledServer> all;
        lock (_gate)
        {
            all = [.. _idle.Values.SelectMany(s => s)];
            _idle.Clear();
        }

        foreach (var server in all)
        {
            server.Close();
        }
    }

    private ServerLease? TakeLocked(PoolKey key)
    {
        if (_idle.TryGetValue(key, out var stack))
        {
            while (stack.TryPop(out var server))
            {
                if (server.IsClosed)
                {
                    continue;
                }

                server.State = PooledServerState.Linked;
                return new ServerLease(server);
            }
        }

        var limit = _settings.MaxServerConnectionsFor(key.Port == ProxyPort.ReadWrite);
        var count = _counts.GetValueOrDefault((key.Port, key.InstanceIndex));
        if (limit == 0 || count < limit)
        {
            _counts[(key.Port, key.InstanceIndex)] = count + 1;
            return new ServerLease(null);
        }

        // Full: an idle connection of another pool on this port and instance gives its place.
        foreach (var (other, idle) in _idle)
        {
            if (other.Port == key.Port && other.InstanceIndex == key.InstanceIndex && idle.TryPop(out var victim))
            {
                victim.Close();
                return new ServerLease(null);
            }
        }

        return null;
    }

    /// <summary>A place was freed: the first waiter on that port and instance opens a connection in it.</summary>
    private void FreePlaceLocked(ProxyPort port, int instance)
    {
        for (var node = _waiters.First; node is not null; node = node.Next)
        {
            if (node.Value.Key.Port == port && node.Value.Key.InstanceIndex == instance)
            {
                _waiters.Remove(node);
                node.Value.Granted.TrySetResult(new ServerLease(null));
                return;
            }
        }

        var count = _counts.GetValueOrDefault((port, instance)) - 1;
        if (count <= 0)
        {
            _counts.Remove((port, instance));
        }
        else
        {
            _counts[(port, instance)] = count;
        }
    }

    private void Abandon(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is not null)
            {
                _waiters.Remove(waiter.Node);
                waiter.Granted.TrySetResult(null);
            }
        }
    }

    /// <summary>Takes an idle connection out of the pool for a client: stops the watch's read first.</summary>
    public static async Task<bool> StopWatchAsync(PooledServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (server.Watch is not { } watch)
        {
            return !server.IsClosed;
        }

        server.Reader.CancelPendingRead();
        var healthy = await watch;
        server.Watch = null;
        return healthy && !server.IsClosed;
    }

    /// <summary>
    /// An idle connection's pending read: the server says nothing to an idle session unless it
    /// ends it (a FATAL before closing, such as pg_terminate_backend's), so any byte, or the end,
    /// closes the connection. True when the read was stopped for a client.
    /// </summary>
    private async Task<bool> WatchAsync(PooledServer server)
    {
        try
        {
            while (true)
            {
                var result = await server.Reader.ReadAsync();
                server.Reader.AdvanceTo(result.Buffer.Start);
                if (!result.IsCanceled)
                {
                    break;
                }

                // A stop left over from the last client's session is no client's: the connection is still idle, so watch on.
                if (server.State != PooledServerState.Idle)
                {
                    return result.Buffer.IsEmpty;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
        }

        _log.Debug($"pooled server connection (backend process {server.ProcessId}) of {server.Key} closed while idle");
        Remove(server);
        return false;
    }

    private void Remove(PooledServer server)
    {
        lock (_gate)
        {
            if (_idle.TryGetValue(server.Key, out var stack) && stack.Contains(server))
            {
                var kept = stack.Where(s => s != server).Reverse().ToList();
                stack.Clear();
                foreach (var s in kept)
                {
                    stack.Push(s);
                }

                FreePlaceLocked(server.Key.Port, server.Key.InstanceIndex);
            }
        }

        server.Close(terminate: false);
    }

    private bool Expired(PooledServer server, DateTimeOffset now) =>
        _settings.ServerLifetime > TimeSpan.Zero && now - server.OpenedAt >= _settings.ServerLifetime;

    /// <summary>Once a second: idle connections past server_idle_timeout or server_lifetime are closed.</summary>
    private void Sweep()
    {
        var now = _time.GetUtcNow();
        var closed = new List<PooledServer>();
        lock (_gate)
        {
            foreach (var stack in _idle.Values)
            {
                if (!stack.Any(s => Stale(s, now)))
                {
                    continue;
                }

                var kept = stack.Where(s => !Stale(s, now)).Reverse().ToList();
                closed.AddRange(stack.Where(s => Stale(s, now)));
                stack.Clear();
                foreach (var s in kept)
                {
                    stack.Push(s);
                }
            }

            foreach (var server in closed)
            {
                FreePlaceLocked(server.Key.Port, server.Key.InstanceIndex);
            }
        }

        foreach (var server in closed)
        {
            server.Close();
        }
    }

    private bool Stale(PooledServer server, DateTimeOffset now) =>
        Expired(server, now) || (_settings.ServerIdleTimeout > TimeSpan.Zero && now - server.IdleSince >= _settings.ServerIdleTimeout);

    private sealed class Waiter(PoolKey key)
    {
        public PoolKey Key { get; } = key;

        public LinkedListNode<Waiter>? Node { get; set; }

        public TaskCompletionSource<ServerLease?> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
