// EarlyOpen.cs: phase two started beside phase one, toward the forecast instance; kept only if conmgr names that instance.
using Npgsql;

namespace ConMgr.Client.Resolve;

/// <summary>
/// A connection being opened from the forecast instance's pool while phase one runs. A new
/// physical connection waits in the initializer for conmgr's answer (<see cref="Lease"/>): if
/// conmgr names this instance, <see cref="TakeAsync"/> hands the connection over and the two
/// phases cost about one open instead of one exchange plus one open. Otherwise
/// <see cref="Abandon"/> answers "not you", which fails the physical open, and closes whatever
/// was opened, in the background: the cost of a wrong forecast is one server connection
/// started for nothing.
/// </summary>
internal sealed class EarlyOpen
{
    private readonly CancellationTokenSource _cancel;
    private readonly Task<OpenResult> _open;

    private EarlyOpen(Pooling.InstancePool pool, Func<Pooling.InstancePool, Pooling.PendingLease, CancellationToken, Task<OpenResult>> open, CancellationToken cancellationToken)
    {
        Lease = new Pooling.PendingLease(pool, early: true);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _open = open(pool, Lease, _cancel.Token);
    }

    /// <summary>Where conmgr's socket goes if its answer names this instance.</summary>
    public Pooling.PendingLease Lease { get; }

    public string Host => Lease.Pool.Host;

    public int Port => Lease.Pool.Port;

    public static EarlyOpen Start(Pooling.InstancePool pool, Func<Pooling.InstancePool, Pooling.PendingLease, CancellationToken, Task<OpenResult>> open, CancellationToken cancellationToken) =>
        new(pool, open, cancellationToken);

    public bool IsFor(string host, int port) => Host == host && Port == port;

    public override string ToString() => Lease.Pool.ToString();

    /// <summary>
    /// conmgr named this instance and sent <paramref name="answer"/>. Returns the early open's
    /// outcome, or null if it had already failed before the answer came: then the caller opens
    /// afresh, as the strict order would have, so opening early is never worse than not (an
    /// instance restarting, say). If the open failed or reused an idle connection, the socket
    /// is still the caller's when <see cref="Pooling.PendingLease.TryReclaim"/> says so.
    /// </summary>
    public async Task<OpenResult?> TakeAsync(System.Net.Sockets.Socket answer)
    {
        try
        {
            if (_open.IsCompleted && (await _open).Connection is null)
            {
                Lease.Answer(null);
                return null;
            }

            Lease.Answer(answer);
            return await _open;
        }
        finally
        {
            _cancel.Dispose();
        }
    }

    /// <summary>conmgr named another instance, or none: fail the physical open, stop it, and close what it made.</summary>
    public void Abandon()
    {
        Lease.Answer(null);
        Diagnostics.ClientMetrics.RecordAbandoned(Host, Port);
        _ = AbandonAsync();
    }

    private async Task AbandonAsync()
    {
        try
        {
            await _cancel.CancelAsync();
            if ((await _open).Connection is { } connection)
            {
                await connection.DisposeAsync();
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or System.Net.Sockets.SocketException)
        {
            // Nobody waits for an abandoned open; its connection is gone either way.
        }
        finally
        {
            _cancel.Dispose();
        }
    }
}

/// <summary>A phase-two open: the connection, or why there is none.</summary>
internal readonly record struct OpenResult(NpgsqlConnection? Connection, string? Error, Exception? Exception = null);
