// HeartbeatReactorTests.cs: the reactor stepped by hand under a fake clock over a real socket pair: beats, verdicts after a drain, pauses given back, goodbyes, RTT.
using System.Net;
using System.Net.Sockets;
using ConMgr.Configuration;
using ConMgr.Heartbeat.Reactor;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Posix;
using ConMgr.Protocol.Heartbeat;
using ConMgr.UnitTests.Logging;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Heartbeat;

public sealed class HeartbeatReactorTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    private readonly FakeTimeProvider _time = new();
    private readonly RecordingSink _sink = new();
    private readonly ServerLog _log;
    private readonly HeartbeatReactor _reactor;
    private readonly Socket _peer;
    private readonly Recorder _handler = new();
    private readonly ReactorLink _link;

    public HeartbeatReactorTests()
    {
        _log = new ServerLog(MessageLevel.Log, [_sink], _time);
        _reactor = new HeartbeatReactor("conmgr", _time, _log, startThread: false);
        var (ours, theirs) = Epoll.SocketPair();
        _peer = new Socket(new SafeSocketHandle(theirs, ownsHandle: true));
        _link = new ReactorLink(ours, new IPEndPoint(IPAddress.Loopback, 1), _handler);
        _reactor.AddEstablished(_link, Interval, Timeout, ReadOnlyMemory<byte>.Empty);
        _reactor.Step(0);
    }

    [Fact]
    public void Beats_go_out_every_interval_and_silence_for_the_timeout_ends_the_link_with_a_goodbye_and_its_evidence()
    {
        Assert.IsType<BeatFrame>(Assert.Single(ReadAtPeer()));
        _time.Advance(Interval);
        _reactor.Step(0);
        Assert.IsType<BeatFrame>(Assert.Single(ReadAtPeer()));

        _time.Advance(Timeout - Interval);
        _reactor.Step(0);

        var frames = ReadAtPeer();
        Assert.IsType<BeatFrame>(frames[0]);
        Assert.Equal("no heartbeat received for 3 s (at the conmgr)", Assert.IsType<GoodbyeFrame>(frames[1]).Reason);
        var verdict = Assert.Single(_handler.Closed);
        Assert.Equal(LinkEnd.Timeout, verdict.Kind);
        Assert.Equal(Timeout, verdict.Silence);
        Assert.Equal(TimeSpan.Zero, verdict.Excused);
        Assert.Contains("silence 3000 ms, acted 0 ms after the deadline, 0 bytes unread", verdict.Evidence, StringComparison.Ordinal);
        Assert.Equal(LinkState.Closed, _link.State);
    }

    [Fact]
    public void Each_frame_pushes_the_deadline_back()
    {
        _time.Advance(TimeSpan.FromSeconds(2));
        SendFromPeer(new BeatFrame(1, 0, 0));
        _reactor.Step(0);
        _time.Advance(TimeSpan.FromSeconds(2));
        _reactor.Step(0);
        Assert.Empty(_handler.Closed);

        _time.Advance(TimeSpan.FromSeconds(1));
        _reactor.Step(0);
        Assert.Equal(LinkEnd.Timeout, Assert.Single(_handler.Closed).Kind);
    }

    [Fact]
    public void A_beat_that_arrives_after_the_wake_but_before_the_verdict_is_read_first_and_renews_the_deadline()
    {
        _time.Advance(Timeout);

        // A command runs after the step's receives and before its deadlines: the beat lands in between, as when the thread is preempted there.
        _reactor.Post(() => SendFromPeer(new BeatFrame(1, 0, 0)));
        _reactor.Step(0);

        Assert.Empty(_handler.Closed);
        Assert.Equal(LinkState.Up, _link.State);
        Assert.Equal(_time.GetTimestamp() + Timeout.Ticks, _link.Deadline);
    }

    [Fact]
    public void A_pause_of_this_process_is_given_back_to_the_link_and_shown_in_the_verdict()
    {
        _time.Advance(TimeSpan.FromSeconds(2.9));
        _reactor.Step(0);
        ReadAtPeer();

        // The step's clock jumps by 2 s while it runs: this thread was not run for that long.
        _reactor.Post(() => _time.Advance(TimeSpan.FromSeconds(2)));
        _reactor.Step(0);

        Assert.Empty(_handler.Closed);
        Assert.Equal(1, _reactor.Pauses);
        Assert.True(_reactor.WorstLateness >= TimeSpan.FromSeconds(1.9), $"worst lateness {_reactor.WorstLateness}");
        Assert.IsType<BeatFrame>(ReadAtPeer().Last()); // our overdue beat went out at once
        _log.Flush();
        Assert.Contains(_sink.Lines, l => l.StartsWith("process pause detected: the conmgr's heartbeat thread woke", StringComparison.Ordinal));

        // 4.9 s of silence so far, 2 s of it ours: the peer has until 3 s of its own.
        _time.Advance(TimeSpan.FromSeconds(0.9));
        _reactor.Step(0);
        Assert.Empty(_handler.Closed);
        _time.Advance(TimeSpan.FromSeconds(0.2));
        _reactor.Step(0);
        var verdict = Assert.Single(_handler.Closed);
        Assert.Equal(LinkEnd.Timeout, verdict.Kind);
        Assert.True(verdict.Excused >= TimeSpan.FromSeconds(1.9), $"excused {verdict.Excused}");
        Assert.Contains("of it this process paused, not counted", verdict.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pause_leaves_at_least_one_interval_after_it()
    {
        _time.Advance(TimeSpan.FromSeconds(2.95));
        _reactor.Step(0);
        _reactor.Post(() => _time.Advance(TimeSpan.FromMilliseconds(120)));
        _reactor.Step(0);

        Assert.Empty(_handler.Closed);
        Assert.True(_link.Deadline >= _time.GetTimestamp() + Interval.Ticks, "one interval for the peer's next beat to arrive");
    }

    [Fact]
    public void A_wake_late_by_less_than_the_threshold_is_no_pause()
    {
        _reactor.Post(() => _time.Advance(HeartbeatReactor.PauseThreshold));
        _reactor.Step(0);
        Assert.Equal(0, _reactor.Pauses);
    }

    [Fact]
    public void A_goodbye_a_close_and_garbage_end_the_link_each_with_its_kind()
    {
        SendFromPeer(new GoodbyeFrame("instance shutting down"));
        _reactor.Step(0);
        var verdict = Assert.Single(_handler.Closed);
        Assert.Equal((LinkEnd.Goodbye, "peer closed the link: instance shutting down"), (verdict.Kind, verdict.Reason));

        using var closed = new Pair(_reactor);
        closed.Peer.Shutdown(SocketShutdown.Both);
        _reactor.Step(0);
        Assert.Equal((LinkEnd.Closed, "connection closed by peer"), (closed.Handler.Closed[0].Kind, closed.Handler.Closed[0].Reason));

        using var garbage = new Pair(_reactor);
        garbage.Peer.Send([0x7f, 0, 0, 0, 4]);
        _reactor.Step(0);
        Assert.Equal(LinkEnd.Failed, garbage.Handler.Closed[0].Kind);
        Assert.StartsWith("protocol violation: unknown frame type 0x7f", garbage.Handler.Closed[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Attributes_reach_the_handler_and_push_the_deadline_back()
    {
        _time.Advance(TimeSpan.FromSeconds(2));
        SendFromPeer(new AttributesFrame(InstanceAttributes.Unavailable));
        _reactor.Step(0);
        Assert.IsType<AttributesFrame>(Assert.Single(_handler.Frames));
        Assert.Equal(_time.GetTimestamp() + Timeout.Ticks, _link.Deadline);
    }

    [Fact]
    public void Rtt_comes_from_the_echo_of_our_own_beat()
    {
        var ours = Assert.IsType<BeatFrame>(Assert.Single(ReadAtPeer()));
        _time.Advance(TimeSpan.FromMilliseconds(30));

        // The peer held our beat 10 ms before it echoed it: the round trip is 20 ms.
        SendFromPeer(new BeatFrame(5, ours.SentUs, 10_000));
        _reactor.Step(0);

        Assert.Equal(TimeSpan.FromMilliseconds(20), _link.LastRtt);
    }

    [Fact]
    public async Task Stop_says_goodbye_with_the_reason_and_closes()
    {
        ReadAtPeer();
        var stopped = _reactor.Stop(_link, "conmgr shutting down", goodbye: true);
        _reactor.Step(0);
        await stopped;

        Assert.Equal("conmgr shutting down (at the conmgr)", Assert.IsType<GoodbyeFrame>(Assert.Single(ReadAtPeer())).Reason);
        Assert.Equal(LinkEnd.Local, Assert.Single(_handler.Closed).Kind);
    }

    public void Dispose()
    {
        _reactor.Dispose();
        _peer.Dispose();
        _log.Dispose();
    }

    private void SendFromPeer(HeartbeatFrame frame) => _peer.Send(HeartbeatCodec.ToArray(frame));

    /// <summary>Every whole frame the peer end holds now.</summary>
    private List<HeartbeatFrame> ReadAtPeer()
    {
        var frames = new List<HeartbeatFrame>();
        var buffer = new byte[64 * 1024];
        var filled = 0;
        while (_peer.Available > 0)
        {
            filled += _peer.Receive(buffer.AsSpan(filled));
        }

        var offset = 0;
        while (HeartbeatCodec.TryDecode(new System.Buffers.ReadOnlySequence<byte>(buffer, offset, filled - offset), out var frame, out var consumed, out _) == ConMgr.Protocol.DecodeStatus.Complete)
        {
            frames.Add(frame!);
            offset += (int)consumed;
        }

        return frames;
    }

    private sealed class Recorder : ILinkHandler
    {
        public List<LinkVerdict> Closed { get; } = [];

        public List<HeartbeatFrame> Frames { get; } = [];

        public void OnHandshakeFrame(ReactorLink link, HeartbeatFrame frame) => Frames.Add(frame);

        public void OnHandshakeExpired(ReactorLink link)
        {
        }

        public void OnHandshakeViolation(ReactorLink link, string violation)
        {
        }

        public void OnFrame(ReactorLink link, HeartbeatFrame frame) => Frames.Add(frame);

        public void OnClosed(ReactorLink link, LinkVerdict verdict, bool wasUp) => Closed.Add(verdict);
    }

    /// <summary>A second link on the same reactor.</summary>
    private sealed class Pair : IDisposable
    {
        public Pair(HeartbeatReactor reactor)
        {
            var (ours, theirs) = Epoll.SocketPair();
            Peer = new Socket(new SafeSocketHandle(theirs, ownsHandle: true));
            reactor.AddEstablished(new ReactorLink(ours, new IPEndPoint(IPAddress.Loopback, 2), Handler), Interval, Timeout, ReadOnlyMemory<byte>.Empty);
            reactor.Step(0);
        }

        public Socket Peer { get; }

        public Recorder Handler { get; } = new();

        public void Dispose() => Peer.Dispose();
    }
}
