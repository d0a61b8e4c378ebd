// SessionTerminator.cs: kills every backend of a conmgr's host when that conmgr's heartbeat is lost.
using System.Net;
using ConMgr.Hosting.Logging;
using ConMgr.Watchdog.Attributes;
using ConMgr.Watchdog.Instance;
using Npgsql;

namespace ConMgr.Watchdog.Terminator;

/// <summary>
/// The second SQL connection. Terminates every backend whose client_addr is the lost conmgr's
/// address, replication connections included (seed 1.1.2), so the dead host's locks and open
/// transactions go at once. Requests are served one at a time, in order.
/// </summary>
public sealed class SessionTerminator(InstanceConnection instance, ServerLog log) : IAsyncDisposable
{
    /// <summary>Every backend of that address except the watchdog's own two ($2: the attribute checker's).</summary>
    public const string Query = "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity where client_addr = $1 and pid <> pg_backend_pid() and pid <> $2";

    private readonly SemaphoreSlim _serial = new(1, 1);
    private readonly PersistentConnection _connection = new(instance, "cm_watchdog terminator");

    /// <summary>Opens the connection ahead of need, so the first termination does not pay for it.</summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        await _serial.WaitAsync(cancellationToken);
        try
        {
            await _connection.GetAsync(cancellationToken);
        }
        catch (Exception ex) when (AttributeChecker.IsInstanceError(ex))
        {
            log.Log($"terminator could not connect yet: {ex.Message}");
        }
        finally
        {
            _serial.Release();
        }
    }

    /// <summary>Terminates the sessions from <paramref name="address"/>; returns how many, or −1 on failure.</summary>
    public async Task<long> TerminateAsync(IPAddress address, string why, int spare = 0)
    {
        ArgumentNullException.ThrowIfNull(address);
        await _serial.WaitAsync();
        try
        {
            for (var attempt = 0; attempt < 2; attempt++)
            {
                try
                {
                    var connection = await _connection.GetAsync(CancellationToken.None);
                    await using var command = new NpgsqlCommand(Query, connection)
                    {
                        Parameters =
                        {
                            new() { Value = address, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Inet },
                            new() { Value = spare, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer },
                        },
                    };
                    var count = (long)(await command.ExecuteScalarAsync())!;
                    log.Log($"terminated {count} session(s) from {address}: {why}");
                    return count;
                }
                catch (Exception ex) when (AttributeChecker.IsInstanceError(ex))
                {
                    // A connection broken since the last use: reconnect once, then give up.
                    await _connection.DropAsync();
                    if (attempt == 1)
                    {
                        log.Warning($"could not terminate sessions from {address}: {ex.Message}");
                    }
                }
            }

            return -1;
        }
        finally
        {
            _serial.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        _serial.Dispose();
    }
}
