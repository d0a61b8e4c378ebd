// HeartbeatLinkTests.cs: the link's timers under a fake clock over a real socket pair: beats, timeout, RTT, goodbye.
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Testing;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Heartbeat;

public sealed class HeartbeatLinkTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();
    private readonly Socket _local;
    private readonly Socket _peer;

    public HeartbeatLinkTests()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _local = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _local.Connect(listener.LocalEndPoint!);
        _peer = listener.Accept();
    }

    [Fact]
    public async Task Silence_for_the_timeout_ends_the_link_and_each_frame_pushes_the_deadline_back()
    {
        using var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time);
        var run = link.RunAsync(_ => { });

        _time.Advance(TimeSpan.FromSeconds(2));
        await SendFromPeerAsync(new BeatFrame(1, 0, 0));
        await Poll.UntilAsync(() => PeerHasBytes(), Wait, "our beats to reach the peer");
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(run.IsCompleted, "a frame 2 s ago pushed the 3 s deadline back");

        _time.Advance(TimeSpan.FromSeconds(1.01));

        Assert.Equal("no heartbeat received for 3 s", await run.WaitAsync(Wait));
    }

    [Fact]
    public async Task Beats_go_out_every_interval()
    {
        using var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time);
        _ = link.RunAsync(_ => { });
        var first = await ReadBeatAtPeerAsync();

        var sent = new List<long> { first.SentUs };
        for (var i = 0; i < 2; i++)
        {
            _time.Advance(Interval);
            sent.Add((await ReadBeatAtPeerAsync()).SentUs);
        }

        Assert.Equal([1_000_000, 1_000_000], sent.Zip(sent.Skip(1), (a, b) => b - a));
        Assert.Equal(0, _peer.Available);
    }

    [Fact]
    public async Task A_beat_sent_late_is_reported_with_the_gap_and_one_on_time_is_not()
    {
        using var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, TimeSpan.FromSeconds(30), _time);
        var gaps = new List<TimeSpan>();
        link.LateBeat = gaps.Add;
        _ = link.RunAsync(_ => { });
        await ReadBeatAtPeerAsync();

        _time.Advance(Interval);
        await ReadBeatAtPeerAsync();
        Assert.Empty(gaps);

        // The process was not run for 2.6 s: the fake clock jumps and the overdue beat fires once.
        _time.Advance(TimeSpan.FromMilliseconds(2600));
        await ReadBeatAtPeerAsync();
        Assert.Equal([TimeSpan.FromMilliseconds(2600)], gaps);
    }

    [Fact]
    public async Task Rtt_comes_from_the_echo_of_our_own_beat()
    {
        using var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time);
        _ = link.RunAsync(_ => { });
        var ourBeat = await ReadBeatAtPeerAsync();

        _time.Advance(TimeSpan.FromMilliseconds(30));
        await SendFromPeerAsync(new BeatFrame(5, ourBeat.SentUs, EchoDelayUs: 10_000));

        await Poll.UntilAsync(() => link.LastRtt is not null, Wait, "an RTT");
        Assert.Equal(TimeSpan.FromMilliseconds(20), link.LastRtt);
    }

    [Fact]
    public async Task Goodbye_and_close_end_the_link_with_their_reason()
    {
        using (var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time))
        {
            var run = link.RunAsync(_ => { });
            await SendFromPeerAsync(new GoodbyeFrame("conmgr shutting down"));
            Assert.Equal("peer closed the link: conmgr shutting down", await run.WaitAsync(Wait));
        }
    }

    [Fact]
    public async Task Peer_close_and_garbage_end_the_link()
    {
        using var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time);
        var frames = new List<HeartbeatFrame>();
        var run = link.RunAsync(frames.Add);
        await SendFromPeerAsync(new AttributesFrame(InstanceAttributes.Unavailable));
        await _peer.SendAsync(new byte[] { (byte)'Z', 0, 0, 0, 4 });

        Assert.Equal("protocol violation: unknown frame type 0x5a", await run.WaitAsync(Wait));
        Assert.Equal([new AttributesFrame(InstanceAttributes.Unavailable)], frames);
    }

    [Fact]
    public async Task How_a_link_ended_tells_a_close_from_a_goodbye_a_timeout_and_a_violation()
    {
        using (var closed = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time))
        {
            var run = closed.RunAsync(_ => { });
            _peer.Shutdown(SocketShutdown.Send);
            Assert.Equal("connection closed by peer", await run.WaitAsync(Wait));
            Assert.Equal(LinkEnd.Closed, closed.EndKind);
        }

        using var local = new HeartbeatLink(new HeartbeatChannel(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)), Interval, Timeout, _time);
        local.End("conmgr shutting down");
        Assert.Equal(LinkEnd.Local, local.EndKind);
    }

    [Fact]
    public async Task A_link_ended_before_it_runs_starts_no_timer_and_sends_no_beat()
    {
        using var link = new HeartbeatLink(new HeartbeatChannel(_local), Interval, Timeout, _time);
        link.End("conmgr shutting down");

        Assert.Equal("conmgr shutting down", await link.RunAsync(_ => { }).WaitAsync(Wait));
        _time.Advance(Timeout * 3);
        Assert.Equal(0, _peer.Available);
        Assert.Equal(LinkEnd.Local, link.EndKind);
    }

    public void Dispose()
    {
        _local.Dispose();
        _peer.Dispose();
    }

    private bool PeerHasBytes() => _peer.Available > 0;

    private async Task SendFromPeerAsync(HeartbeatFrame frame) => await _peer.SendAsync(HeartbeatCodec.ToArray(frame));

    private async Task<BeatFrame> ReadBeatAtPeerAsync()
    {
        var buffer = new byte[HeartbeatCodec.EncodedLength(new BeatFrame(0, 0, 0))];
        var filled = 0;
        while (filled < buffer.Length)
        {
            filled += await _peer.ReceiveAsync(buffer.AsMemory(filled));
        }

        HeartbeatCodec.TryDecode(new System.Buffers.ReadOnlySequence<byte>(buffer), out var frame, out _, out _);
        return Assert.IsType<BeatFrame>(frame);
    }
}
