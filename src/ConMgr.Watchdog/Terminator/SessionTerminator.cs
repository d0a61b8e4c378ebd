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
    /// <summary>
    /// Every backend of that address except the watchdog's own two ($2: the attribute checker's)
    /// and, when the lost conmgr has already reconnected, except those begun since ($3).
    /// </summary>
    public const string Query = """
        select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
        where client_addr = $1 and pid <> pg_backend_pid() and pid <> $2 and ($3::timestamptz is null or backend_start < $3)
        """;

    private readonly SemaphoreSlim _serial = new(1, 1);
    private int _disposed;
    private readonly PersistentConnection _connection = new(instance, "cm_watchdog terminator");

    /// <summary>Where the per-termination lines go when set (the heartbeat server's rate-limited link lines); else the log.</summary>
    public RateLimitedLog? Lines { get; set; }

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
    /// <remarks><paramref name="startedBefore"/>: spare sessions begun at or after this time (null: none spared).</remarks>
    public async Task<long> TerminateAsync(IPAddress address, string why, int spare = 0, DateTimeOffset? startedBefore = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!await EnterAsync())
        {
            // The watchdog is shutting down: its links end because of it, and nothing is terminated.
            log.Debug($"not terminating sessions from {address}: the watchdog is shutting down");
            return -1;
        }

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
                            new() { Value = startedBefore.HasValue ? startedBefore.Value : DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz },
                        },
                    };
                    var count = (long)(await command.ExecuteScalarAsync())!;
                    Diagnostics.WatchdogMetrics.RecordTermination(count);
                    var line = $"terminated {count} session(s) from {address}{(startedBefore is { } t ? $" begun before {t:yyyy-MM-dd HH:mm:ss.fff} UTC (the conmgr has reconnected since)" : string.Empty)}: {why}";
                    if (Lines is { } lines)
                    {
                        lines.Log(line);
                    }
                    else
                    {
                        log.Log(line);
                    }

                    return count;
                }
                catch (Exception ex) when (AttributeChecker.IsInstanceError(ex))
                {
                    // A connection broken since the last use: reconnect once, then give up.
                    await _connection.DropAsync();
                    if (attempt == 1)
                    {
                        log.Warning($"could not terminate sessions from {address}: {ex.Message}");
                        Diagnostics.WatchdogMetrics.RecordTermination(-1);
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
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Wait for a termination in progress; requests queued behind it see _disposed and return.
        await _serial.WaitAsync();
        try
        {
            await _connection.DisposeAsync();
        }
        finally
        {
            _serial.Release();
        }
    }

    /// <summary>Takes the one-at-a-time gate; false once the terminator is disposed (never an ObjectDisposedException).</summary>
    private async Task<bool> EnterAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return false;
        }

        await _serial.WaitAsync();
        if (Volatile.Read(ref _disposed) != 0)
        {
            _serial.Release();
            return false;
        }

        return true;
    }
}
