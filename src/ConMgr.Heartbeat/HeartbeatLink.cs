// HeartbeatLink.cs: a live heartbeat link: beats every interval, declares the link down after timeout of silence.
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat;

/// <summary>How a link ended: what conmgr needs to tell a watchdog restart from a lost instance.</summary>
public enum LinkEnd
{
    /// <summary>Still running.</summary>
    None,

    /// <summary>Ended from this side (<see cref="HeartbeatLink.End"/>, cancellation, shutdown).</summary>
    Local,

    /// <summary>The peer said Goodbye: an orderly end, with its reason.</summary>
    Goodbye,

    /// <summary>The connection closed or was reset without a Goodbye: the peer's process is gone, its host's kernel answered.</summary>
    Closed,

    /// <summary>Nothing arrived for the heartbeat timeout.</summary>
    Timeout,

    /// <summary>A frame that breaks the protocol, or a send that could not complete.</summary>
    Failed,
}

/// <summary>
/// Runs an established link, the same on both ends (seed 2.1.2): a Beat every
/// <see cref="Interval"/>, and the link is down when nothing at all has arrived for
/// <see cref="Timeout"/>. Two timers, no thread: the send timer beats, the deadline timer is
/// pushed back on every received frame and, if it ever fires, ends the link. Round-trip time
/// comes from the echo fields of the peer's beats.
/// </summary>
public sealed class HeartbeatLink : IDisposable
{
    private readonly HeartbeatChannel _channel;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private ITimer? _beatTimer;
    private ITimer? _deadlineTimer;
    private long _peerSentUs;
    private long _peerReceivedTimestamp;
    private long _lastRttTicks = -1;
    private long _lastReceivedTimestamp;
    private long _lastBeatTimestamp;
    private string? _endReason;
    private LinkEnd _endKind;

    public HeartbeatLink(HeartbeatChannel channel, TimeSpan interval, TimeSpan timeout, TimeProvider time)
    {
        _channel = channel ?? throw new ArgumentNullException(nameof(channel));
        Interval = interval;
        Timeout = timeout;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        EstablishedAt = time.GetUtcNow();
        _lastReceivedTimestamp = time.GetTimestamp();
    }

    public TimeSpan Interval { get; }

    public TimeSpan Timeout { get; }

    public DateTimeOffset EstablishedAt { get; }

    /// <summary>How the link ended; <see cref="LinkEnd.None"/> while it runs.</summary>
    public LinkEnd EndKind
    {
        get
        {
            lock (_gate)
            {
                return _endKind;
            }
        }
    }

    /// <summary>Time since the last frame arrived (since establishment, before the first).</summary>
    public TimeSpan SinceLastReceived => _time.GetElapsedTime(Interlocked.Read(ref _lastReceivedTimestamp));

    /// <summary>
    /// Called (on the timer's thread) with the time between two of our beats when it exceeded
    /// <see cref="Interval"/> by half an interval or more (at least 100 ms): this process was not
    /// run in time to beat, and the peer may have declared the link lost.
    /// </summary>
    public Action<TimeSpan>? LateBeat { get; set; }

    /// <summary>Called (on the receiving thread) with each round-trip time measured: the RTT histogram of conmgr's metrics.</summary>
    public Action<TimeSpan>? RttMeasured { get; set; }

    /// <summary>Round-trip time measured from the last beat that echoed one of ours; null before the first.</summary>
    public TimeSpan? LastRtt => Interlocked.Read(ref _lastRttTicks) is var ticks and >= 0 ? TimeSpan.FromTicks(ticks) : null;

    /// <summary>
    /// Beats and receives until the link ends; returns why it ended. Frames other than beats go to
    /// <paramref name="onFrame"/>; <paramref name="pending"/> are frames that arrived with the
    /// handshake and are handled first.
    /// </summary>
    public async Task<string> RunAsync(Action<HeartbeatFrame> onFrame, IEnumerable<HeartbeatFrame>? pending = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onFrame);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, cancellationToken);
        lock (_gate)
        {
            // A link ended before it ran (a Goodbye sent at shutdown) must not start beating.
            if (_endReason is null)
            {
                _deadlineTimer = _time.CreateTimer(_ => End(LinkEnd.Timeout, $"no heartbeat received for {Format(Timeout)}"), null, Timeout, System.Threading.Timeout.InfiniteTimeSpan);
                _beatTimer = _time.CreateTimer(_ => Beat(), null, TimeSpan.Zero, Interval);
            }
        }

        try
        {
            foreach (var frame in pending ?? [])
            {
                Dispatch(frame, onFrame);
            }

            while (_endReason is null)
            {
                if (!await _channel.ReceiveAsync(frame => Dispatch(frame, onFrame), linked.Token))
                {
                    End(LinkEnd.Closed, "connection closed by peer");
                }
            }
        }
        catch (OperationCanceledException) when (_endReason is not null || cancellationToken.IsCancellationRequested)
        {
            End("link stopped");
        }
        catch (HeartbeatProtocolException ex)
        {
            End(LinkEnd.Failed, $"protocol violation: {ex.Message}");
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            // A reset is a close without Goodbye too: the peer's kernel answered for a dead process.
            End(ex.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset ? LinkEnd.Closed : LinkEnd.Failed, $"connection error: {ex.Message}");
        }
        catch (ObjectDisposedException ex)
        {
            End(LinkEnd.Local, $"connection error: {ex.Message}");
        }

        lock (_gate)
        {
            return _endReason!;
        }
    }

    /// <summary>Sends a frame on the link; a failed send ends it.</summary>
    public void Send(HeartbeatFrame frame)
    {
        if (!_channel.TrySend(frame))
        {
            End(LinkEnd.Failed, "could not send: connection broken or peer not reading");
        }
    }

    /// <summary>Ends the link from this side (the reason is what <see cref="RunAsync"/> returns).</summary>
    public void End(string reason) => End(LinkEnd.Local, reason);

    private void End(LinkEnd kind, string reason)
    {
        lock (_gate)
        {
            if (_endReason is not null)
            {
                return;
            }

            _endReason = reason;
            _endKind = kind;
            _beatTimer?.Dispose();
            _deadlineTimer?.Dispose();
        }

        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed link: nothing left to stop.
        }
    }

    public void Dispose()
    {
        End("link disposed");
        _channel.Dispose();
        _stop.Dispose();
    }

    public static string Format(TimeSpan time) =>
        time.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)time.TotalSeconds} s" : $"{(long)time.TotalMilliseconds} ms";

    private void Dispatch(HeartbeatFrame frame, Action<HeartbeatFrame> onFrame)
    {
        var now = _time.GetTimestamp();
        Interlocked.Exchange(ref _lastReceivedTimestamp, now);
        lock (_gate)
        {
            if (_endReason is null)
            {
                _deadlineTimer?.Change(Timeout, System.Threading.Timeout.InfiniteTimeSpan);
            }
        }

        switch (frame)
        {
            case BeatFrame beat:
                lock (_gate)
                {
                    _peerSentUs = beat.SentUs;
                    _peerReceivedTimestamp = now;
                }

                if (beat.EchoUs > 0)
                {
                    var rttUs = Microseconds(now) - beat.EchoUs - beat.EchoDelayUs;
                    if (rttUs >= 0)
                    {
                        Interlocked.Exchange(ref _lastRttTicks, rttUs * 10);
                        RttMeasured?.Invoke(TimeSpan.FromMicroseconds(rttUs));
                    }
                }

                break;
            case GoodbyeFrame goodbye:
                End(LinkEnd.Goodbye, $"peer closed the link: {goodbye.Reason}");
                break;
            default:
                onFrame(frame);
                break;
        }
    }

    private void Beat()
    {
        var now = _time.GetTimestamp();
        var previous = Interlocked.Exchange(ref _lastBeatTimestamp, now);
        if (previous != 0 && LateBeat is { } late)
        {
            var gap = _time.GetElapsedTime(previous, now);
            if (gap - Interval >= TimeSpan.FromTicks(Math.Max(Interval.Ticks / 2, TimeSpan.TicksPerMillisecond * 100)))
            {
                late(gap);
            }
        }

        long echo, delay;
        lock (_gate)
        {
            echo = _peerSentUs;
            delay = echo == 0 ? 0 : Microseconds(now) - Microseconds(_peerReceivedTimestamp);
        }

        Send(new BeatFrame(Math.Max(1, Microseconds(now)), echo, delay));
    }

    private long Microseconds(long timestamp) => ConMgr.Heartbeat.Microseconds.FromTimestamp(timestamp, _time.TimestampFrequency);
}
