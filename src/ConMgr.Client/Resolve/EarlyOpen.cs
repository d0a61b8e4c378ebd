// EarlyOpen.cs: phase two started beside phase one, toward the forecast instance; kept only if conmgr names that instance.
using Npgsql;

namespace ConMgr.Client.Resolve;

/// <summary>
/// An SQL connection being opened to the instance conmgr is expected to name, while phase one
/// runs. If conmgr names that instance, <see cref="TakeAsync"/> hands it over and the two phases
/// cost about one open instead of one exchange plus one open. Otherwise <see cref="Abandon"/>
/// cancels it and closes whatever it opened, in the background: the cost of a wrong forecast
/// is one server connection started for nothing.
/// </summary>
internal sealed class EarlyOpen
{
    private readonly CancellationTokenSource _cancel;
    private readonly Task<OpenResult> _open;

    private EarlyOpen(string host, int port, Func<string, int, CancellationToken, Task<OpenResult>> open, CancellationToken cancellationToken)
    {
        Host = host;
        Port = port;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _open = open(host, port, _cancel.Token);
    }

    public string Host { get; }

    public int Port { get; }

    public static EarlyOpen Start(string host, int port, Func<string, int, CancellationToken, Task<OpenResult>> open, CancellationToken cancellationToken) =>
        new(host, port, open, cancellationToken);

    public bool IsFor(string host, int port) => Host == host && Port == port;

    /// <summary>
    /// The outcome of the early open, now that conmgr named this instance; null if it had already
    /// failed before the answer came. Then the caller opens afresh, as the strict order would
    /// have, so opening early is never worse than not (an instance restarting, say).
    /// </summary>
    public async Task<OpenResult?> TakeAsync()
    {
        try
        {
            var finishedBeforeAnswer = _open.IsCompleted;
            var result = await _open;
            return finishedBeforeAnswer && result.Connection is null ? null : result;
        }
        finally
        {
            _cancel.Dispose();
        }
    }

    /// <summary>conmgr named another instance, or none: stop the open and close what it made.</summary>
    public void Abandon()
    {
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
internal readonly record struct OpenResult(NpgsqlConnection? Connection, string? Error);
