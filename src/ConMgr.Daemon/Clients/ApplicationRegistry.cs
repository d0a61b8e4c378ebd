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
    private TaskCompletionSource _empty = NewEmptySignal(completed: true);
    private int _count;

    public int MaxConnections { get; } = maxConnections;

    public int Count => Volatile.Read(ref _count);

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

            if (--_count == 0)
            {
                _empty.TrySetResult();
            }
        }
    }

    public IReadOnlyList<ApplicationConnection> Snapshot() => [.. _connections.Values.OrderBy(c => c.Id)];

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
