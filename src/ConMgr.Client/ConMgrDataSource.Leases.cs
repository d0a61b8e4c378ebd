// ConMgrDataSource.Leases.cs: every new server connection gets its conmgr lease (the open's phase-one socket, or a pinned request), and a report on any lease evicts the instance.
using System.Net.Sockets;
using ConMgr.Client.Diagnostics;
using ConMgr.Client.Pooling;
using ConMgr.Client.Resolve;
using Npgsql;

namespace ConMgr.Client;

public sealed partial class ConMgrDataSource
{
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
        channel.Start();
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
                reason = $"conmgr named instance {resolved.Number} ({HostEntry.Format(resolved.Host, resolved.Port)}) instead";
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

        var connections = pool.ReportLost(reason);

        // The reporter itself may have joined the pool after the other leases were told (a report
        // that was waiting on a lease attached a moment ago, or a pool already lost): tell it too.
        reporter?.Lose(reason);
        if (connections is null)
        {
            return;
        }

        var entry = _hosts[Math.Max(0, pool.Entry)];
        ClientMetrics.RecordLost(entry.Host, entry.Port, connections.Value);
        ClientLog.InstanceLost(_logger, pool.ToString(), Target, reason, connections.Value);
    }
}
