// HeartbeatLink.cs: a live heartbeat link: beats every interval, declares the link down after timeout of silence.
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat;

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
    private string? _endReason;

    public HeartbeatLink(HeartbeatChannel channel, TimeSpan interval, TimeSpan timeout, TimeProvider time)
    {
        _channel = channel ?? throw new ArgumentNullException(nameof(channel));
        Interval = interval;
        Timeout = timeout;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        EstablishedAt = time.GetUtcNow();
    }

    public TimeSpan Interval { get; }

    public TimeSpan Timeout { get; }

    public DateTimeOffset EstablishedAt { get; }

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
        _deadlineTimer = _time.CreateTimer(_ => End($"no heartbeat received for {Format(Timeout)}"), null, Timeout, System.Threading.Timeout.InfiniteTimeSpan);
        _beatTimer = _time.CreateTimer(_ => Beat(), null, TimeSpan.Zero, Interval);
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
                    End("connection closed by peer");
                }
            }
        }
        catch (OperationCanceledException) when (_endReason is not null || cancellationToken.IsCancellationRequested)
        {
            End("link stopped");
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or HeartbeatProtocolException or ObjectDisposedException)
        {
            End(ex is HeartbeatProtocolException ? $"protocol violation: {ex.Message}" : $"connection error: {ex.Message}");
        }

        return _endReason!;
    }

    /// <summary>Sends a frame on the link; a failed send ends it.</summary>
    public void Send(HeartbeatFrame frame)
    {
        if (!_channel.TrySend(frame))
        {
            End("could not send: connection broken or peer not reading");
        }
    }

    /// <summary>Ends the link from this side (the reason is what <see cref="RunAsync"/> returns).</summary>
    public void End(string reason)
    {
        lock (_gate)
        {
            if (_endReason is not null)
            {
                return;
            }

            _endReason = reason;
        }

        _beatTimer?.Dispose();
        _deadlineTimer?.Dispose();
        _stop.Cancel();
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
        _deadlineTimer?.Change(Timeout, System.Threading.Timeout.InfiniteTimeSpan);
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
                    }
                }

                break;
            case GoodbyeFrame goodbye:
                End($"peer closed the link: {goodbye.Reason}");
                break;
            default:
                onFrame(frame);
                break;
        }
    }

    private void Beat()
    {
        var now = _time.GetTimestamp();
        long echo, delay;
        lock (_gate)
        {
            echo = _peerSentUs;
            delay = echo == 0 ? 0 : Microseconds(now) - Microseconds(_peerReceivedTimestamp);
        }

        Send(new BeatFrame(Math.Max(1, Microseconds(now)), echo, delay));
    }

    /// <summary>Exact integer conversion: a double loses microseconds on large timestamps, and timestamp × 10⁶ overflows.</summary>
    private long Microseconds(long timestamp)
    {
        var frequency = _time.TimestampFrequency;
        return (timestamp / frequency * 1_000_000) + (timestamp % frequency * 1_000_000 / frequency);
    }
}
