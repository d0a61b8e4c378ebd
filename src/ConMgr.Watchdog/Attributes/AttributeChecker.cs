// AttributeChecker.cs: every check_attr_interval, reads the instance's role and state and pushes any change.
using System.Net.Sockets;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Watchdog.Diagnostics;
using ConMgr.Watchdog.Instance;
using Npgsql;

namespace ConMgr.Watchdog.Attributes;

/// <summary>
/// One of the watchdog's two SQL connections. Reads recovery state, default_transaction_read_only,
/// timeline, system identifier, LSN and replay lag every <c>watchdog.check_attr_interval</c>; when
/// anything differs from what was last pushed, <see cref="Changed"/> fires at once. When the
/// instance cannot be queried the attributes say "unavailable" rather than repeating stale truth.
/// </summary>
public sealed class AttributeChecker(InstanceConnection instance, ServerLog log, TimeProvider time) : IAsyncDisposable
{
    /// <summary>
    /// The query. On a primary, the WAL position and the timeline come from the insert position:
    /// it includes every commit that has returned, asynchronous ones too, where pg_current_wal_lsn()
    /// (the write position) may not (and the checkpoint's timeline lags after a promotion).
    /// </summary>
    public const string Query = """
        select pg_is_in_recovery(),
               current_setting('default_transaction_read_only') = 'on',
               case when pg_is_in_recovery()
                    then coalesce((select received_tli from pg_stat_wal_receiver), (select timeline_id from pg_control_checkpoint()))
                    else ('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::int end,
               (select system_identifier from pg_control_system()),
               coalesce(case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_insert_lsn() end - '0/0'::pg_lsn, 0)::bigint,
               case when not pg_is_in_recovery() then -1
                    when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn() then 0
                    else coalesce((extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000000)::bigint, -1) end,
               current_setting('server_version_num')::int,
               exists (select 1 from pg_settings where name = 'watchdog.read_only_session' and vartype = 'bool'),
               pg_postmaster_start_time(),
               coalesce(pg_last_wal_receive_lsn() - '0/0'::pg_lsn, -1)::bigint,
               coalesce((select latest_end_lsn from pg_stat_wal_receiver) - '0/0'::pg_lsn, -1)::bigint,
               (select status from pg_stat_wal_receiver),
               pg_is_in_recovery() and pg_is_wal_replay_paused()
        """;

    private readonly PersistentConnection _connection = new(instance, "cm_watchdog attribute checker");
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _sequence;

    /// <summary>PID of the checker's backend, which the terminator must spare (in -d mode it may share a conmgr's address).</summary>
    public int BackendPid => _connection.BackendPid;

    /// <summary>The last attributes pushed.</summary>
    public InstanceAttributes Current { get; private set; } = InstanceAttributes.Unavailable;

    public event Action<InstanceAttributes>? Changed;

    /// <summary>What the last successful check read beyond the attributes (the HTTP health paths); <see cref="HealthDetails.None"/> while unavailable.</summary>
    public HealthDetails Details { get; private set; } = HealthDetails.None;

    /// <summary>When the last check ended, whatever it found: the watchdog's liveness.</summary>
    public DateTimeOffset? LastCheckAt { get; private set; }

    /// <summary>The settings read on the checker's connection at start (waits for the instance).</summary>
    public async Task<WatchdogSettings> ReadSettingsAsync(int? portOverride, int? httpPortOverride, CancellationToken cancellationToken)
    {
        var waited = false;
        while (true)
        {
            try
            {
                var connection = await _connection.GetAsync(cancellationToken);
                return await WatchdogSettings.ReadAsync(connection, portOverride, httpPortOverride);
            }
            catch (Exception ex) when (IsInstanceError(ex))
            {
                await _connection.DropAsync();
                if (!waited)
                {
                    log.Log($"waiting for the instance ({instance.Describe()}): {ex.Message}");
                    waited = true;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken);
            }
        }
    }

    /// <summary>Checks once now (before the watchdog listens, so the first conmgr gets real attributes).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken) => Publish(await CheckAsync(cancellationToken) ?? InstanceAttributes.Unavailable, null);

    /// <summary>
    /// Checks every <paramref name="interval"/> (watchdog.check_attr_interval) until cancelled,
    /// and at once whenever <see cref="CheckNow"/> is called.
    /// </summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        while (true)
        {
            var woken = await _wake.WaitAsync(interval, cancellationToken);
            if (await CheckAsync(cancellationToken) is { } checkedNow)
            {
                Publish(checkedNow, woken ? "on notice" : null);
            }
        }
    }

    /// <summary>
    /// Asks for a check now: the promotion notifier's SIGUSR1 (recovery just ended). Many calls
    /// before the check runs make one check.
    /// </summary>
    public void CheckNow()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A check is already due.
        }
        catch (ObjectDisposedException)
        {
            // Shutting down: no more checks.
        }
    }

    internal static bool IsInstanceError(Exception ex) =>
        ex is NpgsqlException or IOException or SocketException or TimeoutException;

    /// <summary>The instance's attributes now; Unavailable when it cannot be queried; null on a bug (nothing is known, nothing is pushed).</summary>
    private async Task<InstanceAttributes?> CheckAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        try
        {
            return await QueryAsync(cancellationToken);
        }
        finally
        {
            LastCheckAt = time.GetUtcNow();
            WatchdogMetrics.RecordCheck(time.GetElapsedTime(started));
        }
    }

    private async Task<InstanceAttributes?> QueryAsync(CancellationToken cancellationToken)
    {
        try
        {
            var connection = await _connection.GetAsync(cancellationToken);
            await using var command = new NpgsqlCommand(Query, connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            Details = new HealthDetails(
                reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
                reader.GetInt64(9),
                reader.GetInt64(10),
                reader.IsDBNull(11) ? null : reader.GetString(11),
                reader.GetBoolean(12));
            return new InstanceAttributes(
                Available: true,
                InRecovery: reader.GetBoolean(0),
                DefaultTransactionReadOnly: reader.GetBoolean(1),
                Timeline: reader.GetInt32(2),
                SystemIdentifier: reader.GetInt64(3),
                Lsn: reader.GetInt64(4),
                ReplayLagUs: reader.GetInt64(5),
                ServerVersionNum: reader.GetInt32(6),
                Sequence: 0,
                ReadOnlySessions: reader.GetBoolean(7));
        }
        catch (Exception ex) when (IsInstanceError(ex) && !cancellationToken.IsCancellationRequested)
        {
            if (Current.Available)
            {
                log.Log($"instance unavailable: {ex.Message}");
            }

            WatchdogMetrics.RecordCheckFailure("unavailable");
            Details = HealthDetails.None;

            await _connection.DropAsync();
            return InstanceAttributes.Unavailable;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug in the watchdog is not an unavailable instance: reporting one would fail every
            // client on a healthy server. Log it as the bug it is, keep the last attributes, and
            // start again from a fresh connection at the next check.
            log.Error($"BUG: attribute check failed: {ex}");
            WatchdogMetrics.RecordCheckFailure("internal");
            await _connection.DropAsync();
            return null;
        }
    }

    private void Publish(InstanceAttributes checkedNow, string? why)
    {
        if ((checkedNow with { Sequence = 0 }) == (Current with { Sequence = 0 }))
        {
            return;
        }

        if (checkedNow.RoleDiffers(Current) && checkedNow.Available)
        {
            log.Log($"instance is {checkedNow.Role}{(checkedNow.DefaultTransactionReadOnly ? " (default_transaction_read_only on)" : string.Empty)}, timeline {checkedNow.Timeline}{(why is null ? string.Empty : $" (checked {why})")}");
        }

        Current = checkedNow with { Sequence = ++_sequence };
        Changed?.Invoke(Current);
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        _wake.Dispose();
    }
}
