// RateLimitedLog.cs: lines a stranger can cause, one per connection, logged without letting a flood flood the log.
namespace ConMgr.Hosting.Logging;

/// <summary>
/// The first <c>linesPerWindow</c> lines of each window go to the log in full; the rest are counted
/// and summed up in one line when the window ends, with the last one's text. A flood of thousands
/// per second thus costs a few lines per window, and the operator still sees who and why.
/// </summary>
public sealed class RateLimitedLog : IDisposable
{
    private readonly ServerLog _log;
    private readonly TimeProvider _time;
    private readonly int _linesPerWindow;
    private readonly TimeSpan _window;
    private readonly string _what;
    private readonly Lock _gate = new();
    private readonly ITimer _flush;
    private long _windowEnd = long.MinValue;
    private int _logged;
    private long _suppressed;
    private string? _last;

    /// <param name="what">Names the suppressed lines in the summing one: "{count} more {what} in the last 10 s".</param>
    public RateLimitedLog(ServerLog log, TimeProvider time, int linesPerWindow, TimeSpan window, string what)
    {
        ArgumentNullException.ThrowIfNull(time);
        _log = log;
        _time = time;
        _linesPerWindow = linesPerWindow;
        _window = window;
        _what = what;
        _flush = time.CreateTimer(_ => Flush(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Lines not logged in full so far (the summing lines count them).</summary>
    public long Suppressed { get; private set; }

    /// <summary>Logs <paramref name="line"/> at LOG, or counts it when this window's lines are spent.</summary>
    /// <param name="summary">What the summing line quotes of it as the last one (default: the line itself).</param>
    public void Log(string line, string? summary = null)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (now >= _windowEnd)
            {
                FlushLocked();
                _windowEnd = now + (long)(_window.TotalSeconds * _time.TimestampFrequency);
                _logged = 0;
            }

            if (_logged < _linesPerWindow)
            {
                _logged++;
                _log.Log(line);
                return;
            }

            if (_suppressed++ == 0)
            {
                _flush.Change(_time.GetElapsedTime(now, _windowEnd) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            }

            Suppressed++;
            _last = summary ?? line;
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

        _log.Log($"{_suppressed} more {_what} in the last {(long)_window.TotalSeconds} s (last: {_last})");
        _suppressed = 0;
        _last = null;
    }
}
