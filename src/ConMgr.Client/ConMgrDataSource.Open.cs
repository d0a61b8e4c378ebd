// ConMgrDataSource.Open.cs: how an open finds its connection: an idle one, else the host list in order (phase one, early open, phase two, direct entries).
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using ConMgr.Client.Diagnostics;
using ConMgr.Client.Pooling;
using ConMgr.Client.Resolve;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ConMgr.Client;

public sealed partial class ConMgrDataSource
{
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
            if (!pool.CanLend)
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

    /// <summary>
    /// Phase one with entry <paramref name="index"/>, with an early open to the forecast instance
    /// beside it. The early open is returned only with a conmgr answer; otherwise it is abandoned here.
    /// </summary>
    private async Task<(ResolveOutcome Outcome, EarlyOpen? Early)> AskAsync(int index, CancellationToken cancellationToken)
    {
        EarlyOpen? early = null;
        if (OpenEarly && _forecast.Predict(index) is { } forecast)
        {
            ClientLog.EarlyOpenStarted(_logger, HostEntry.Format(forecast.Host, forecast.Port));
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
            ClientLog.EarlyOpenAbandoned(_logger, early.ToString(), "conmgr named no instance");
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
        var instance = HostEntry.Format(resolved.Host, resolved.Port);
        ClientLog.Resolved(_logger, entry.ToString(), Target, resolved.Number, instance, resolved.Candidates);
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
            ClientLog.EarlyOpenAbandoned(_logger, early.ToString(), $"conmgr named {instance}");
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
            failures.Add(($"{entry} sent us to {instance}: {opened.Error}", opened.Exception));
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
            ClientLog.ForecastSet(_logger, _hosts[index].ToString(), HostEntry.Format(next.Host, next.Port));
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
}
