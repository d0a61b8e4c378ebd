// ApplicationRegistry.cs: the live application connections, max_connections, and "wait until none".
using System.Collections.Concurrent;

namespace ConMgr.Daemon.Clients;

/// <summary>
/// Counts application connections against <c>max_connections</c> (0 = no limit) and lets a
/// smart shutdown wait until the last one has ended.
/// </summary>
public sealed class ApplicationRegistry(int maxConnections)
{
    private readonly ConcurrentDictionary<long, ApplicationConnection> _connections = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<int, int> _outstanding = [];
    private TaskCompletionSource _empty = NewEmptySignal(completed: true);
    private int _count;

    public int MaxConnections { get; } = maxConnections;

    /// <summary>Registers <paramref name="connection"/>; false when that would exceed max_connections.</summary>
    public bool TryAdd(ApplicationConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_gate)
        {
            if (MaxConnections > 0 && _count >= MaxConnections)
            {
                return false;
            }

            if (_count++ == 0)
            {
                _empty = NewEmptySignal(completed: false);
            }

            _connections[connection.Id] = connection;
            return true;
        }
    }

    public void Remove(ApplicationConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_gate)
        {
            if (!_connections.TryRemove(connection.Id, out _))
            {
                return;
            }

            if (connection.InstanceIndex >= 0)
            {
                _outstanding[connection.InstanceIndex]--;
            }

            if (--_count == 0)
            {
                _empty.TrySetResult();
            }
        }
    }

    /// <summary>How many application connections there are now, on every port.</summary>
    public int Count => _connections.Count;

    public IReadOnlyList<ApplicationConnection> Snapshot() => [.. _connections.Values.OrderBy(c => c.Id)];

    /// <summary>
    /// Connections sent to each instance (by index in the instance table), per port: what
    /// <c>/status</c>, <c>cm_ctl status</c> and the <c>conmgr.sessions</c> gauge show. Instances with
    /// none are absent.
    /// </summary>
    public IReadOnlyDictionary<int, Hosting.Control.SessionCounts> SessionCounts()
    {
        var counts = new Dictionary<int, (int Resolve, int ReadWrite, int ReadOnly)>();
        foreach (var connection in _connections.Values)
        {
            if (connection.InstanceIndex < 0)
            {
                continue;
            }

            var (resolve, readWrite, readOnly) = counts.GetValueOrDefault(connection.InstanceIndex);
            counts[connection.InstanceIndex] = connection.Port switch
            {
                null => (resolve + 1, readWrite, readOnly),
                "read-write" => (resolve, readWrite + 1, readOnly),
                _ => (resolve, readWrite, readOnly + 1),
            };
        }

        return counts.ToDictionary(c => c.Key, c => new Hosting.Control.SessionCounts(c.Value.Resolve, c.Value.ReadWrite, c.Value.ReadOnly));
    }

    /// <summary>Application connections currently sent to instance <paramref name="index"/> (the router's load measure).</summary>
    public int Outstanding(int index)
    {
        lock (_gate)
        {
            return _outstanding.GetValueOrDefault(index);
        }
    }

    /// <summary>Records that <paramref name="connection"/> was sent to instance <paramref name="index"/>.</summary>
    public void Assign(ApplicationConnection connection, int index)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_gate)
        {
            UnassignLocked(connection);
            connection.InstanceIndex = index;
            _outstanding[index] = _outstanding.GetValueOrDefault(index) + 1;
        }
    }

    /// <summary>Records that <paramref name="connection"/> is sent to no instance for now (a pooled client to be routed again).</summary>
    public void Unassign(ApplicationConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_gate)
        {
            UnassignLocked(connection);
        }
    }

    /// <summary>Under the lock: the connection's instance, if any, counts it no more.</summary>
    private void UnassignLocked(ApplicationConnection connection)
    {
        if (connection.InstanceIndex >= 0)
        {
            _outstanding[connection.InstanceIndex]--;
        }

        connection.InstanceIndex = -1;
    }

    /// <summary>Completes when no application connection is left.</summary>
    public Task WaitEmptyAsync()
    {
        lock (_gate)
        {
            return _empty.Task;
        }
    }

    private static TaskCompletionSource NewEmptySignal(bool completed)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            signal.SetResult();
        }

        return signal;
    }
}
