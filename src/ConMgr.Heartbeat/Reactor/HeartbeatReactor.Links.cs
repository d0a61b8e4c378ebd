// HeartbeatReactor.Links.cs: what the reactor does to one link: receive and decode, beat, judge after draining, send, end.
using System.Buffers;
using ConMgr.Hosting.Posix;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat.Reactor;

public sealed partial class HeartbeatReactor
{
    /// <summary>Receives at most this many times when draining a link before a verdict: a peer cannot keep the reactor reading forever.</summary>
    private const int MaxDrainReads = 16;

    /// <summary>
    /// Marks the link established (handshake done, or none here): the deadline is one timeout away,
    /// and the first beat goes out now unless <paramref name="beatNow"/> is false (the watchdog sends
    /// its Welcome and Attributes first, then calls <see cref="BeatNow"/>). Reactor thread only.
    /// </summary>
    public void Establish(ReactorLink link, TimeSpan interval, TimeSpan timeout, bool beatNow = true)
    {
        ArgumentNullException.ThrowIfNull(link);
        var now = _time.GetTimestamp();
        link.IntervalTicks = Ticks(interval);
        link.TimeoutTicks = Ticks(timeout);
        link.State = LinkState.Up;
        link.Deadline = now + link.TimeoutTicks;
        link.LastReceivedAt = now;
        link.NextBeat = now;
        if (beatNow)
        {
            BeatNow(link);
        }
        else
        {
            Schedule(link, Math.Min(link.Deadline, link.NextBeat));
        }
    }

    /// <summary>Sends the link's beat now (and the next one an interval later). Reactor thread only.</summary>
    public void BeatNow(ReactorLink link)
    {
        ArgumentNullException.ThrowIfNull(link);
        if (link.State != LinkState.Up)
        {
            return;
        }

        Beat(link, _time.GetTimestamp());
        if (link.State == LinkState.Up)
        {
            Schedule(link, Math.Min(link.Deadline, link.NextBeat));
        }
    }

    /// <summary>Sends one frame now; a send that cannot complete ends the link. Reactor thread only.</summary>
    public void Send(ReactorLink link, HeartbeatFrame frame)
    {
        ArgumentNullException.ThrowIfNull(link);
        SendEncoded(link, HeartbeatCodec.Encode(frame, _send));
    }

    /// <summary>Ends a link with <paramref name="verdict"/>: a Goodbye first when asked and possible, then the close and the handler's OnClosed. Reactor thread only.</summary>
    public void End(ReactorLink link, LinkVerdict verdict, bool sayGoodbye)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(verdict);
        if (link.State == LinkState.Closed)
        {
            return;
        }

        if (sayGoodbye && link.State == LinkState.Up)
        {
            // The peer must reach the same verdict: a bare close would read as a restart of this process.
            var length = HeartbeatCodec.Encode(new GoodbyeFrame($"{verdict.Reason} (at the {_side})"), _send);
            _ = Epoll.Send(link.Fd, _send.AsSpan(0, length));
        }

        Close(link, verdict);
    }

    /// <summary>Closes the descriptor and tells the handler once. Reactor thread only.</summary>
    public void Close(ReactorLink link, LinkVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(link);
        if (link.State == LinkState.Closed)
        {
            return;
        }

        var wasUp = link.State == LinkState.Up;
        link.State = LinkState.Closed;
        link.Partial = null;
        _links.Remove(link.Fd);
        Epoll.Remove(_epoll, link.Fd);
        Epoll.Close(link.Fd);
        link.Handler.OnClosed(link, verdict, wasUp);
    }

    private void Register(ReactorLink link)
    {
        _links[link.Fd] = link;
        Epoll.Add(_epoll, link.Fd, (ulong)link.Fd);
    }

    private void SendEncoded(ReactorLink link, int length)
    {
        if (link.State == LinkState.Closed)
        {
            return;
        }

        if (Epoll.Send(link.Fd, _send.AsSpan(0, length)) != length)
        {
            End(link, LinkVerdict.Plain(LinkEnd.Failed, "could not send: connection broken or peer not reading", Silence(link, _time.GetTimestamp())), sayGoodbye: false);
        }
    }

    private void Beat(ReactorLink link, long now)
    {
        var frequency = _time.TimestampFrequency;
        var nowUs = Microseconds.FromTimestamp(now, frequency);
        var echo = link.PeerSentUs;
        var delay = echo == 0 ? 0 : nowUs - Microseconds.FromTimestamp(link.PeerReceivedAt, frequency);

        // Behind schedule (a pause): one beat now, not one per missed interval.
        link.NextBeat = Math.Max(link.NextBeat + link.IntervalTicks, now + (link.IntervalTicks / 2));
        SendEncoded(link, HeartbeatCodec.WriteBeat(_send, Math.Max(1, nowUs), echo, delay));
    }

    /// <summary>
    /// The deadline passed. Before a verdict, read what the socket holds: beats that arrived while
    /// this thread was not run renew the deadline. Only then, silence is silence.
    /// </summary>
    private void Judge(ReactorLink link, long now)
    {
        for (var reads = 0; reads < MaxDrainReads && link.State == LinkState.Up && Receive(link); reads++)
        {
        }

        if (link.State != LinkState.Up || _time.GetTimestamp() < link.Deadline)
        {
            return;
        }

        var verdict = new LinkVerdict(
            LinkEnd.Timeout,
            $"no heartbeat received for {Durations.Format(Span(link.TimeoutTicks))}",
            Silence(link, now),
            Span(link.ExcusedTicks),
            Span(now - link.Deadline),
            link.PartialLength,
            _pressure.Describe());
        End(link, verdict, sayGoodbye: true);
    }

    /// <summary>One non-blocking receive, every whole frame dispatched; false when nothing more is there now (or the link closed).</summary>
    private bool Receive(ReactorLink link)
    {
        var filled = link.PartialLength;
        if (filled > 0)
        {
            link.Partial.AsSpan(0, filled).CopyTo(_receive);
            link.PartialLength = 0;
        }

        var read = Epoll.Receive(link.Fd, _receive.AsSpan(filled, ReceiveSize));
        if (read == 0 || (read < 0 && read != -Epoll.EAGAIN))
        {
            var reason = read == 0 ? "connection closed by peer" : read == -Epoll.ECONNRESET ? "connection error: Connection reset by peer" : $"connection error: errno {-read}";
            Close(link, LinkVerdict.Plain(read == 0 || read == -Epoll.ECONNRESET ? LinkEnd.Closed : LinkEnd.Failed, reason, Silence(link, _time.GetTimestamp())));
            return false;
        }

        filled += Math.Max(read, 0);
        var offset = 0;
        while (link.State != LinkState.Closed)
        {
            if (link.State == LinkState.Up && HeartbeatCodec.TryReadBeat(_receive.AsSpan(offset, filled - offset), out var sentUs, out var echoUs, out var delayUs))
            {
                // The steady state: a beat, read without allocating.
                offset += HeartbeatCodec.BeatLength;
                OnBeat(link, sentUs, echoUs, delayUs);
                continue;
            }

            var status = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(_receive, offset, filled - offset), out var frame, out var consumed, out var error);
            if (status == DecodeStatus.NeedMoreData)
            {
                break;
            }

            if (status == DecodeStatus.Invalid)
            {
                ProtocolViolation(link, error ?? "invalid frame");
                return false;
            }

            offset += (int)consumed;
            Dispatch(link, frame!);
        }

        if (link.State == LinkState.Closed)
        {
            return false;
        }

        // Whatever is left is less than one frame: the decoder rejects a longer announced length.
        var rest = filled - offset;
        if (rest > 0)
        {
            link.Partial ??= new byte[HeartbeatCodec.MaxFrameLength];
            _receive.AsSpan(offset, rest).CopyTo(link.Partial);
        }
        else
        {
            link.Partial = null;
        }

        link.PartialLength = rest;
        return read > 0;
    }

    private static void Received(ReactorLink link, long at)
    {
        link.LastReceivedAt = at;
        link.ExcusedTicks = 0;
        link.Deadline = at + link.TimeoutTicks;
    }

    private void OnBeat(ReactorLink link, long sentUs, long echoUs, long delayUs)
    {
        var at = _time.GetTimestamp();
        Received(link, at);
        link.PeerSentUs = sentUs;
        link.PeerReceivedAt = at;
        if (echoUs > 0)
        {
            var rttUs = Microseconds.FromTimestamp(at, _time.TimestampFrequency) - echoUs - delayUs;
            if (rttUs >= 0 && rttUs < long.MaxValue / 10)
            {
                var rtt = TimeSpan.FromMicroseconds(rttUs);
                link.SetRtt(rtt);
                link.RttMeasured?.Invoke(rtt);
            }
        }
    }

    private void Dispatch(ReactorLink link, HeartbeatFrame frame)
    {
        if (link.State == LinkState.Handshake)
        {
            link.Handler.OnHandshakeFrame(link, frame);
            return;
        }

        var at = _time.GetTimestamp();
        switch (frame)
        {
            case BeatFrame beat:
                OnBeat(link, beat.SentUs, beat.EchoUs, beat.EchoDelayUs);
                break;
            case GoodbyeFrame goodbye:
                Received(link, at);
                Close(link, LinkVerdict.Plain(LinkEnd.Goodbye, $"peer closed the link: {goodbye.Reason}", TimeSpan.Zero));
                break;
            default:
                Received(link, at);
                link.Handler.OnFrame(link, frame);
                break;
        }
    }

    private void ProtocolViolation(ReactorLink link, string error)
    {
        var verdict = LinkVerdict.Plain(LinkEnd.Failed, $"protocol violation: {error}", Silence(link, _time.GetTimestamp()));
        if (link.State == LinkState.Handshake)
        {
            // The handler says why (a Refusal frame); nothing to say Goodbye to.
            link.Handler.OnHandshakeViolation(link, error);
            Close(link, verdict);
        }
        else
        {
            End(link, verdict, sayGoodbye: true);
        }
    }
}
