// PersistentConnection.cs: one long-lived SQL connection to the instance, reopened on demand after a failure.
using Npgsql;

namespace ConMgr.Watchdog.Instance;

/// <summary>
/// The watchdog keeps exactly two of these (attribute checker, terminator): the seed's
/// "add 2 to max_connections". Not thread-safe; each owner uses its own from one flow.
/// </summary>
public sealed class PersistentConnection(InstanceConnection instance, string applicationName) : IAsyncDisposable
{
    private NpgsqlConnection? _connection;

    /// <summary>The open connection, opening a new one if there is none or it broke.</summary>
    public async Task<NpgsqlConnection> GetAsync(CancellationToken cancellationToken)
    {
        if (_connection is { State: System.Data.ConnectionState.Open })
        {
            return _connection;
        }

        await DropAsync();
        var connection = new NpgsqlConnection(instance.BuildConnectionString(applicationName));
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        _connection = connection;
        return connection;
    }

    /// <summary>PID of the backend serving this connection; 0 when there is none.</summary>
    public int BackendPid => _connection is { State: System.Data.ConnectionState.Open } c ? c.ProcessID : 0;

    /// <summary>Forgets the connection after an error, so the next use reconnects.</summary>
    public async Task DropAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
            _connection = null;
        }
    }

    public ValueTask DisposeAsync() => new(DropAsync());
}
