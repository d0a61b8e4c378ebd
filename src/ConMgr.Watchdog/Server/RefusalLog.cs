// RefusalLog.cs: connections refused before they became links, logged without letting a flood flood the log.
using System.Net;
using ConMgr.Hosting.Logging;

namespace ConMgr.Watchdog.Server;

/// <summary>
/// Every connection refused before it became a link (failed TLS handshake, wrong secret, no hello,
/// plaintext where TLS is required, no slot) is counted, in the metrics and here. The log gets the
/// first <see cref="LinesPerWindow"/> of each <see cref="Window"/> in full; the rest are counted and
/// summed up in one line when the window ends, with the last one's address and reason. A flood of
/// thousands per second thus costs a few lines per window, and the operator still sees who and why.
/// </summary>
internal sealed class RefusalLog : IDisposable
{
    public const int LinesPerWindow = 10;
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private readonly ServerLog _log;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly ITimer _flush;
    private long _windowEnd = long.MinValue;
    private int _logged;
    private long _suppressed;
    private string? _last;
    private long _total;

    public RefusalLog(ServerLog log, TimeProvider time)
    {
        _log = log;
        _time = time;
        _flush = time.CreateTimer(_ => Flush(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>All refusals so far.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <param name="kind">A short label for the metrics (tls, secret, hello, plaintext, pending, slots, protocol).</param>
    public void Record(IPEndPoint remote, string kind, string reason)
    {
        Interlocked.Increment(ref _total);
        Diagnostics.WatchdogMetrics.RecordRefusal(kind);
        var line = $"heartbeat connection from {remote} refused: {reason}";
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (now >= _windowEnd)
            {
                FlushLocked();
                _windowEnd = now + (long)(Window.TotalSeconds * _time.TimestampFrequency);
                _logged = 0;
            }

            if (_logged < LinesPerWindow)
            {
                _logged++;
                _log.Log(line);
                return;
            }

            if (_suppressed++ == 0)
            {
                _flush.Change(_time.GetElapsedTime(now, _windowEnd) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            }

            _last = $"{remote}: {reason}";
        }
    }

    public void Dispose()
    {
        _flush.Dispose();
        Flush();
    }

    private void Flush()
    {
        lock (_gate)
        {
            FlushLocked();
        }
    }

    private void FlushLocked()
    {
        if (_suppressed == 0)
        {
            return;
        }

        _log.Log($"{_suppressed} more heartbeat connections refused in the last {(long)Window.TotalSeconds} s (last: {_last})");
        _suppressed = 0;
        _last = null;
    }
}
