// HeartbeatReactor.cs: one thread, one epoll, one due-time queue: every heartbeat link of a process (conmgr's or the watchdog's), sent, received and judged in one place.
using System.Collections.Concurrent;
using ConMgr.Heartbeat.Diagnostics;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Posix;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat.Reactor;

/// <summary>
/// The heartbeat of a process: sends, receives and deadlines of all its links on one dedicated
/// thread, at a raised scheduling priority where the process may (<see cref="ThreadScheduling"/>),
/// so no beat waits behind the thread pool, a timer queue or another link's work.
/// <list type="bullet">
/// <item>Input: level-triggered epoll; one receive per readiness into one shared 64 KiB buffer;
/// only a partial frame is kept, in a per-link array of at most one frame.</item>
/// <item>Time: one priority queue holds each link's next due time (handshake deadline, next beat
/// or heartbeat deadline, whichever is first), one entry per link.</item>
/// <item>Output: non-blocking sends; a send that cannot complete ends the link (a peer that leaves
/// a whole socket buffer unread is gone).</item>
/// <item>Other threads talk to it through a command queue and an eventfd that wakes the epoll.</item>
/// </list>
/// Verdicts are never given blind (docs/protocol.md, "Verdicts"): due beats go out before any
/// deadline is judged; a link past its deadline is drained first, and a frame found there renews
/// it; and time this thread itself was not run (a GC pause, CPU steal, SIGSTOP, a frozen cgroup),
/// measured as how late it woke, is not counted as the peer's silence: every deadline moves back
/// by the pause, and at least one interval is left after it, as Cassandra's failure detector and
/// Corosync do after a local pause.
/// </summary>
public sealed partial class HeartbeatReactor : IDisposable
{
    /// <summary>A wake this much later than planned is a pause of this process, given back to every link.</summary>
    public static readonly TimeSpan PauseThreshold = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Beats due within this much are sent together, in one wake-up: at 10,000 peers that turns
    /// ten thousand timer wake-ups a second into a few hundred. Deadlines are never taken early.
    /// </summary>
    private static readonly TimeSpan BeatSlack = TimeSpan.FromMilliseconds(2);

    /// <summary>Time a step may spend on its events before the excess counts as a pause too.</summary>
    private static readonly TimeSpan ProcessingAllowance = TimeSpan.FromMilliseconds(50);

    /// <summary>At most one pause line per this much; the others are counted into the next.</summary>
    private static readonly TimeSpan PauseLogEvery = TimeSpan.FromSeconds(10);

    private const ulong WakeToken = ulong.MaxValue;
    private const int ReceiveSize = 64 * 1024;

    private readonly TimeProvider _time;
    private readonly ServerLog _log;
    private readonly string _side;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly Dictionary<int, ReactorLink> _links = [];
    private readonly PriorityQueue<ReactorLink, long> _due = new();
    private readonly byte[] _events = new byte[256 * Epoll.EventSize];
    private readonly byte[] _receive = new byte[HeartbeatCodec.MaxFrameLength + ReceiveSize];
    private readonly byte[] _send = new byte[HeartbeatCodec.MaxFrameLength];
    private readonly List<ReactorLink> _reschedule = [];
    private readonly SystemPressure _pressure = new();
    private readonly Thread? _thread;
    private readonly long _beatSlackTicks;
    private readonly long _pauseThresholdTicks;
    private readonly long _processingAllowanceTicks;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _plannedWake;
    private long _lastPauseLog;
    private int _pausesNotLogged;
    private long _worstLatenessTicks;
    private long _pauses;
    private readonly ManualResetEventSlim _scheduled = new();
    private string _scheduling = "not started";
    private volatile bool _stopping;

    /// <param name="side">"conmgr" or "watchdog": named in the Goodbye a verdict sends, and in the log.</param>
    /// <param name="startThread">False for tests that drive <see cref="Step"/> themselves under a fake clock.</param>
    public HeartbeatReactor(string side, TimeProvider time, ServerLog log, bool startThread = true)
    {
        _side = side;
        _time = time;
        _log = log;
        _beatSlackTicks = Ticks(BeatSlack);
        _pauseThresholdTicks = Ticks(PauseThreshold);
        _processingAllowanceTicks = Ticks(ProcessingAllowance);
        _epoll = Epoll.Create();
        RuntimeEpoll.Own(_epoll);
        _wake = Epoll.CreateEventFd();
        Epoll.Add(_epoll, _wake, WakeToken);
        _plannedWake = time.GetTimestamp();
        if (startThread)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "heartbeat reactor" };
            _thread.Start();
        }
    }

    /// <summary>The scheduling the reactor thread got (SCHED_RR, a lower nice value, or why not), for the start-up log.</summary>
    public string Scheduling => _scheduled.Wait(TimeSpan.FromSeconds(5)) ? _scheduling : "not started";

    /// <summary>Completes when the reactor thread has closed every link and stopped.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>The latest this thread ever woke after its planned time.</summary>
    public TimeSpan WorstLateness => TimeSpan.FromSeconds(Interlocked.Read(ref _worstLatenessTicks) / (double)_time.TimestampFrequency);

    /// <summary>Wakes later than <see cref="PauseThreshold"/>: pauses given back to the links.</summary>
    public long Pauses => Interlocked.Read(ref _pauses);

    /// <summary>Runs <paramref name="command"/> on the reactor thread (thread-safe).</summary>
    public void Post(Action command)
    {
        _commands.Enqueue(command);
        Epoll.Signal(_wake);
    }

    /// <summary>Takes over <paramref name="link"/>'s descriptor for a handshake the handler runs, bounded by <paramref name="handshakeTimeout"/>.</summary>
    public void Add(ReactorLink link, TimeSpan handshakeTimeout) => Post(() =>
    {
        link.Deadline = _time.GetTimestamp() + Ticks(handshakeTimeout);
        Register(link);
        Schedule(link, link.Deadline);
    });

    /// <summary>
    /// Takes over a link whose handshake is done (conmgr's, after the Welcome), established at once;
    /// <paramref name="leftover"/> are bytes that arrived after the handshake's last frame.
    /// </summary>
    public void AddEstablished(ReactorLink link, TimeSpan interval, TimeSpan timeout, ReadOnlyMemory<byte> leftover)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(leftover.Length, HeartbeatCodec.MaxFrameLength);
        Post(() => Adopt(link, interval, timeout, leftover));
    }

    private void Adopt(ReactorLink link, TimeSpan interval, TimeSpan timeout, ReadOnlyMemory<byte> leftover)
    {
        if (!leftover.IsEmpty)
        {
            link.Partial = new byte[HeartbeatCodec.MaxFrameLength];
            leftover.Span.CopyTo(link.Partial);
            link.PartialLength = leftover.Length;
        }

        Register(link);
        Establish(link, interval, timeout);
    }

    /// <summary>Ends <paramref name="link"/> from another thread: a Goodbye with the reason first when <paramref name="goodbye"/>. Completes once it is closed.</summary>
    public Task Stop(ReactorLink link, string reason, bool goodbye)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            End(link, LinkVerdict.Plain(LinkEnd.Local, reason, Silence(link, _time.GetTimestamp())), goodbye);
            done.TrySetResult();
        });
        if (_stopping || Stopped.IsCompleted)
        {
            done.TrySetResult();
        }

        return done.Task;
    }

    /// <summary>Sends <paramref name="frame"/> to every established link.</summary>
    public void Broadcast(HeartbeatFrame frame) => Post(() =>
    {
        var length = HeartbeatCodec.Encode(frame, _send);
        foreach (var link in _links.Values.Where(l => l.State == LinkState.Up).ToList())
        {
            SendEncoded(link, length);
        }
    });

    /// <summary>Closes every link (after a Goodbye with <paramref name="goodbye"/> on established links when given) and stops.</summary>
    public Task StopAsync(string? goodbye)
    {
        Post(() =>
        {
            var now = _time.GetTimestamp();
            foreach (var link in _links.Values.ToList())
            {
                var verdict = LinkVerdict.Plain(LinkEnd.Local, goodbye ?? $"{_side} shutting down", Silence(link, now));
                End(link, verdict, sayGoodbye: goodbye is not null);
            }

            _log.Log($"{_side}'s heartbeat thread stopping: worst wake lateness {(long)WorstLateness.TotalMilliseconds} ms, {Pauses} pause(s) given back to the links");
            _stopping = true;
        });
        if (_thread is null)
        {
            // Stepped by hand (tests): this step runs the stop, and nothing else will.
            Step(0);
            _stopped.TrySetResult();
        }

        return Stopped;
    }

    public void Dispose()
    {
        if (!_stopping)
        {
            StopAsync(null).Wait(TimeSpan.FromSeconds(5));
        }

        Epoll.Close(_wake);
        Epoll.Close(_epoll);
        _scheduled.Dispose();
    }

    /// <summary>
    /// One turn of the loop: wait up to the earliest due time (at most <paramref name="maxWaitMs"/>),
    /// measure how late the wake was, receive, run commands, then beats and deadlines.
    /// </summary>
    public void Step(int maxWaitMs = 1000)
    {
        var before = _time.GetTimestamp();
        var wait = WaitMilliseconds(before, maxWaitMs);
        _plannedWake = before + (wait * _time.TimestampFrequency / 1000);
        var count = Epoll.Wait(_epoll, _events, wait);
        var woke = _time.GetTimestamp();
        var late = Math.Max(0, woke - _plannedWake);
        for (var i = 0; i < count; i++)
        {
            var data = Epoll.DataAt(_events, i);
            if (data == WakeToken)
            {
                Epoll.Drain(_wake);
            }
            else if (_links.TryGetValue((int)data, out var link))
            {
                Receive(link);
            }
        }

        while (_commands.TryDequeue(out var command))
        {
            command();
        }

        var now = _time.GetTimestamp();

        // A pause inside the step (a GC that stopped this thread while it read) counts as well.
        late += Math.Max(0, now - woke - _processingAllowanceTicks);
        NoteLateness(late, now);
        RunDue(now);
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private TimeSpan Span(long ticks) => TimeSpan.FromSeconds(ticks / (double)_time.TimestampFrequency);

    private TimeSpan Silence(ReactorLink link, long now) => link.State == LinkState.Up ? Span(now - link.LastReceivedAt) : TimeSpan.Zero;

    private void Run()
    {
        _scheduling = ThreadScheduling.RaiseCurrentThread();
        _scheduled.Set();
        try
        {
            while (!_stopping)
            {
                Step();
            }
        }
        catch (Exception ex)
        {
            // Nothing here should throw; if it does, the process must not limp on without a heartbeat.
            _log.Fatal($"BUG: the heartbeat reactor failed: {ex}");
            _log.Flush();
            Environment.FailFast($"heartbeat reactor failed: {ex.Message}", ex);
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Until the earliest due time, at most <paramref name="maxWaitMs"/> (commands wake it anyway).</summary>
    private int WaitMilliseconds(long now, int maxWaitMs)
    {
        if (!_commands.IsEmpty)
        {
            return 0;
        }

        if (!_due.TryPeek(out _, out var due))
        {
            return maxWaitMs;
        }

        var ms = (due - now) * 1000 / _time.TimestampFrequency;
        return (int)Math.Clamp(ms + 1, 0, maxWaitMs);
    }

    /// <summary>
    /// A wake later than <see cref="PauseThreshold"/> means this thread was not run: the silence of
    /// that time is not the peers' (their beats may be queued in a kernel that was paused too, or
    /// they were paused with us). Every established link's deadline moves back by the lateness, and
    /// leaves at least one interval from now.
    /// </summary>
    private void NoteLateness(long late, long now)
    {
        if (late > Interlocked.Read(ref _worstLatenessTicks))
        {
            Interlocked.Exchange(ref _worstLatenessTicks, late);
        }

        HeartbeatMetrics.RecordWake(Span(late), pause: late >= _pauseThresholdTicks);
        if (late < _pauseThresholdTicks)
        {
            return;
        }

        Interlocked.Increment(ref _pauses);
        var given = 0;
        foreach (var link in _links.Values)
        {
            if (link.State == LinkState.Up)
            {
                link.ExcusedTicks += late;
                link.Deadline = Math.Max(link.Deadline + late, now + link.IntervalTicks);
                given++;
            }
        }

        if (now - _lastPauseLog >= Ticks(PauseLogEvery) || _lastPauseLog == 0)
        {
            var others = _pausesNotLogged > 0 ? $" ({_pausesNotLogged} shorter or earlier pauses since the last such line)" : string.Empty;
            _log.Log($"process pause detected: the {_side}'s heartbeat thread woke {(long)Span(late).TotalMilliseconds} ms after its planned time{others}; {given} link(s) given that time back before any is judged ({_pressure.Describe() ?? "no CPU steal or pressure figures"})");
            _lastPauseLog = now;
            _pausesNotLogged = 0;
        }
        else
        {
            _pausesNotLogged++;
        }
    }

    /// <summary>Makes sure the link is looked at by <paramref name="due"/>; a later entry already queued stays, and is dropped when it pops.</summary>
    private void Schedule(ReactorLink link, long due)
    {
        if (due < link.QueuedDue)
        {
            link.QueuedDue = due;
            _due.Enqueue(link, due);
        }
    }

    private void RunDue(long now)
    {
        _pressure.Sample(now, Ticks(TimeSpan.FromSeconds(5)));
        while (_due.TryPeek(out var link, out var due) && due <= now + _beatSlackTicks)
        {
            _due.Dequeue();
            if (due != link.QueuedDue)
            {
                continue;
            }

            link.QueuedDue = long.MaxValue;
            switch (link.State)
            {
                case LinkState.Handshake when now >= link.Deadline:
                    link.Handler.OnHandshakeExpired(link);
                    Close(link, LinkVerdict.Plain(LinkEnd.Local, "handshake not completed in time", TimeSpan.Zero));
                    continue;
                case LinkState.Up:
                    // Our own overdue beat first: the peer judges us too.
                    if (now + _beatSlackTicks >= link.NextBeat)
                    {
                        Beat(link, now);
                    }

                    if (link.State == LinkState.Up && now >= link.Deadline)
                    {
                        Judge(link, now);
                    }

                    break;
            }

            if (link.State != LinkState.Closed)
            {
                // After the loop: a deadline inside the slack window must not pop again at once.
                _reschedule.Add(link);
            }
        }

        foreach (var link in _reschedule)
        {
            Schedule(link, link.State == LinkState.Up ? Math.Min(link.Deadline, link.NextBeat) : link.Deadline);
        }

        _reschedule.Clear();
    }
}
