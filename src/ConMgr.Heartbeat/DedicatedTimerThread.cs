// DedicatedTimerThread.cs: a TimeProvider whose timers fire on one thread of their own, so heartbeats never wait for the thread pool.
namespace ConMgr.Heartbeat;

/// <summary>
/// .NET's timers hand every callback to the thread pool. conmgr's beats must not wait behind
/// anything else the pool is doing: under full CPU load (the proxy benchmark, pgbench and the
/// server on both cores) an idle conmgr was seen to send no beat for 3 s while it kept receiving
/// the watchdog's (socket completions run inline, timers did not), and the watchdog ended the link
/// and its terminator the sessions. Timers created here run their callbacks on this provider's
/// own thread, in due order; callbacks must be short and must not block (a beat is one
/// non-blocking send). Time itself (timestamps, UTC) is the system's.
/// </summary>
public sealed class DedicatedTimerThread : TimeProvider, IDisposable
{
    /// <summary>The system's clock (named apart from the inherited <c>TimeProvider.System</c>, which reads like the namespace).</summary>
    private static readonly TimeProvider Clock = TimeProvider.System;

    private readonly object _gate = new();
    private readonly PriorityQueue<(Timer Timer, long Version), long> _queue = new();
    private readonly Thread _thread;
    private bool _disposed;

    public DedicatedTimerThread(string name)
    {
        _thread = new Thread(Run) { IsBackground = true, Name = name, Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Callbacks that threw (they are not allowed to: counted, never rethrown on this thread).</summary>
    public long Faults { get; private set; }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new Timer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }

        _thread.Join(TimeSpan.FromSeconds(5));
    }

    private static long ToTicks(TimeSpan span) =>
        span == Timeout.InfiniteTimeSpan ? -1 : (long)Math.Min(span.TotalSeconds * Clock.TimestampFrequency, long.MaxValue / 4);

    private void Run()
    {
        while (true)
        {
            Timer timer;
            lock (_gate)
            {
                while (true)
                {
                    if (_disposed)
                    {
                        return;
                    }

                    if (!_queue.TryPeek(out var entry, out var due))
                    {
                        Monitor.Wait(_gate);
                        continue;
                    }

                    var now = Clock.GetTimestamp();
                    if (due > now)
                    {
                        var wait = (due - now) * 1000 / Clock.TimestampFrequency;
                        Monitor.Wait(_gate, (int)Math.Clamp(wait + 1, 1, int.MaxValue));
                        continue;
                    }

                    _queue.Dequeue();
                    if (entry.Version != entry.Timer.Version)
                    {
                        continue; // changed or disposed since it was queued
                    }

                    timer = entry.Timer;
                    if (timer.PeriodTicks > 0)
                    {
                        // Like System.Threading.Timer: the next one a period after this one was due, or after now when far behind.
                        timer.Due = Math.Max(due + timer.PeriodTicks, now);
                        _queue.Enqueue((timer, timer.Version), timer.Due);
                    }

                    break;
                }
            }

            try
            {
                timer.Callback(timer.State);
            }
            catch (Exception)
            {
                Faults++;
            }
        }
    }

    private sealed class Timer(DedicatedTimerThread owner, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;

        public object? State { get; } = state;

        /// <summary>Bumped by every change: queue entries of an older version are stale.</summary>
        public long Version { get; private set; }

        public long Due { get; set; }

        public long PeriodTicks { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                if (owner._disposed || Version < 0)
                {
                    return false;
                }

                Version++;
                PeriodTicks = Math.Max(0, ToTicks(period));
                var due = ToTicks(dueTime);
                if (due >= 0)
                {
                    Due = Clock.GetTimestamp() + due;

                    // The thread sleeps until the head's time: wake it only when this one comes first.
                    // (A pushed-back deadline, at every received frame, leaves a stale entry that is dropped when it pops.)
                    var first = !owner._queue.TryPeek(out _, out var head) || Due < head;
                    owner._queue.Enqueue((this, Version), Due);
                    if (first)
                    {
                        Monitor.PulseAll(owner._gate);
                    }
                }

                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._gate)
            {
                Version = long.MinValue; // no queued entry matches any more, and Change refuses
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
