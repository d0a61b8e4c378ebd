// PendingTerminations.cs: the terminator's work, bounded and coalesced per address: a connect/close loop cannot pile up terminations.
using System.Net;
using ConMgr.Hosting.Logging;

namespace ConMgr.Watchdog.Terminator;

/// <summary>
/// Lost links ask for their address's sessions to be terminated; the requests are served one at a
/// time, in order, by one worker. A request for an address already waiting is merged into it (the
/// latest loss decides what is spared: sessions begun after the conmgr reconnected), so the queue
/// holds at most one entry per address, and at most <see cref="MaxAddresses"/> entries; beyond that
/// a request is dropped, counted and logged (rate-limited): the sessions of that host are then left
/// to TCP, as without a watchdog. Only authenticated links reach this queue.
/// </summary>
public sealed class PendingTerminations : IAsyncDisposable
{
    public const int MaxAddresses = 1024;

    private readonly Func<IPAddress, string, int, DateTimeOffset?, Task> _terminate;
    private readonly RateLimitedLog _warnings;
    private readonly Dictionary<IPAddress, Request> _waiting = [];
    private readonly Queue<IPAddress> _order = new();
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ServerLog _log;
    private readonly Task _worker;

    public PendingTerminations(SessionTerminator terminator, ServerLog log, TimeProvider time)
        : this((address, why, spare, startedBefore) => terminator.TerminateAsync(address, why, spare, startedBefore), log, time)
    {
    }

    /// <param name="terminate">Does one termination (the terminator's; a recorder in tests).</param>
    public PendingTerminations(Func<IPAddress, string, int, DateTimeOffset?, Task> terminate, ServerLog log, TimeProvider time)
    {
        _terminate = terminate;
        _log = log;
        _warnings = new RateLimitedLog(log, time, 10, TimeSpan.FromSeconds(10), "terminations dropped");
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Requests merged into one already waiting.</summary>
    public long Coalesced { get; private set; }

    /// <summary>Requests dropped because <see cref="MaxAddresses"/> were waiting.</summary>
    public long Dropped { get; private set; }

    /// <summary>Asks for the sessions of <paramref name="address"/> to be terminated; false when dropped.</summary>
    public bool Enqueue(IPAddress address, string why, int spare, DateTimeOffset? startedBefore)
    {
        ArgumentNullException.ThrowIfNull(address);
        // One host, one entry, whether it came over an IPv4 or a dual-stack socket.
        address = Server.AddressShares.Normalize(address);
        lock (_gate)
        {
            if (_waiting.TryGetValue(address, out var waiting))
            {
                _waiting[address] = new Request(why, spare, startedBefore, waiting.Merged + 1);
                Coalesced++;
                return true;
            }

            if (_waiting.Count >= MaxAddresses)
            {
                Dropped++;
                _warnings.Log($"terminator queue full ({MaxAddresses} addresses waiting): not terminating the sessions of {address} ({why})");
                return false;
            }

            _waiting[address] = new Request(why, spare, startedBefore, 0);
            _order.Enqueue(address);
        }

        _signal.Release();
        return true;
    }

    /// <summary>Stops taking work and waits, up to 5 s, for a termination in progress: the watchdog's exit is not held by a slow server.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _worker.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
        }
        catch (TimeoutException)
        {
            _log.Log("a session termination still in progress was left to finish as the watchdog exits");
            return;
        }

        _warnings.Dispose();
        _signal.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        while (true)
        {
            await _signal.WaitAsync(_stop.Token);
            IPAddress address;
            Request request;
            lock (_gate)
            {
                address = _order.Dequeue();
                _waiting.Remove(address, out request);
            }

            var why = request.Merged == 0 ? request.Why : $"{request.Why}; {request.Merged} earlier loss(es) of this address merged into this termination";
            try
            {
                await _terminate(address, why, request.Spare, request.StartedBefore);
            }
            catch (Exception ex)
            {
                _log.Error($"BUG: terminating the sessions of {address}: {ex}");
            }
        }
    }

    private readonly record struct Request(string Why, int Spare, DateTimeOffset? StartedBefore, int Merged);
}
