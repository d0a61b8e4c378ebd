// LinkReactor.cs: one thread, one epoll, one due-time queue: every heartbeat connection of the watchdog, from Hello to close.
using ConMgr.Hosting.Posix;
using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using ConMgr.Heartbeat;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Watchdog.Server;

/// <summary>What the reactor asks of the watchdog at each step of a connection's life (<see cref="HeartbeatServer"/>).</summary>
internal interface IReactorPolicy
{
    /// <summary>The shared secret peers must prove (watchdog.secret_file), or null.</summary>
    byte[]? Secret { get; }

    /// <summary>Why a Hello is refused, or null to accept it.</summary>
    string? Judge(HelloFrame hello);

    /// <summary>The peer is authenticated (or nothing is asked of it): a slot for it, or why there is none.</summary>
    string? Admit(ReactorPeer peer);

    /// <summary>The peer was admitted and welcomed: register the conmgr; returns the attributes to send it first.</summary>
    InstanceAttributes Established(ReactorPeer peer, HelloFrame hello);

    /// <summary>A connection that never became a link was refused or dropped (<paramref name="kind"/>: protocol, secret, slots, hello): counted, and logged without flooding the log.</summary>
    void Refused(ReactorPeer peer, string kind, string reason);

    /// <summary>The connection is closed (its descriptor too); <paramref name="reason"/> is why, for an established link.</summary>
    void Closed(ReactorPeer peer, string? reason);
}

/// <summary>
/// The watchdog's heartbeat connections, served without a task, a timer or a buffer per
/// connection: ten thousand conmgr peers cost ten thousand small <see cref="ReactorPeer"/>s.
/// <list type="bullet">
/// <item>Input: level-triggered epoll; one receive per readiness into one shared 64 KiB buffer,
/// decoded by <see cref="HeartbeatCodec"/>; only a partial frame is kept, in a per-peer array of
/// at most one frame.</item>
/// <item>Time: one priority queue holds each peer's next due time (hello deadline, next beat, or
/// heartbeat deadline, whichever is first), one entry per peer; an entry that pops early because
/// the deadline moved is put back at the right time.</item>
/// <item>Output: non-blocking sends of frames encoded once into a shared buffer (a broadcast is
/// encoded once for all peers); a send that cannot complete ends the link (a peer that leaves a
/// whole socket buffer unread is gone), as in <see cref="HeartbeatChannel"/>.</item>
/// <item>Other threads (accept, attribute checker, shutdown) talk to it through a command queue
/// and an eventfd that wakes the epoll.</item>
/// </list>
/// The link semantics are those of <see cref="HeartbeatLink"/>, which conmgr uses: docs/protocol.md.
/// </summary>
internal sealed class LinkReactor : IDisposable
{
    private const ulong WakeToken = ulong.MaxValue;

    /// <summary>
    /// Beats due within this much are sent together, in one wake-up: at 10,000 peers that turns
    /// ten thousand timer wake-ups a second into a few hundred. Deadlines are never taken early.
    /// </summary>
    private static readonly TimeSpan BeatSlack = TimeSpan.FromMilliseconds(2);
    private const int ReceiveSize = 64 * 1024;

    private readonly IReactorPolicy _policy;
    private readonly TimeProvider _time;
    private readonly TimeSpan _helloTimeout;
    private readonly long _helloTimeoutTicks;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly Dictionary<int, ReactorPeer> _peers = [];
    private readonly PriorityQueue<ReactorPeer, long> _due = new();
    private readonly byte[] _events = new byte[256 * Epoll.EventSize];
    private readonly byte[] _receive = new byte[HeartbeatCodec.MaxFrameLength + ReceiveSize];
    private readonly byte[] _send = new byte[HeartbeatCodec.MaxFrameLength];
    private readonly Thread _thread;
    private readonly long _beatSlackTicks;
    private readonly List<ReactorPeer> _reschedule = [];
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;

    public LinkReactor(IReactorPolicy policy, TimeSpan helloTimeout, TimeProvider time)
    {
        _policy = policy;
        _time = time;
        _helloTimeout = helloTimeout;
        _helloTimeoutTicks = Ticks(helloTimeout);
        _beatSlackTicks = Ticks(BeatSlack);
        _epoll = Epoll.Create();
        RuntimeEpoll.Own(_epoll);
        _wake = Epoll.CreateEventFd();
        Epoll.Add(_epoll, _wake, WakeToken);
        _thread = new Thread(Run) { IsBackground = true, Name = "heartbeat reactor" };
        _thread.Start();
    }

    /// <summary>Completes when the reactor thread has closed every connection and stopped.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>
    /// Takes over <paramref name="fd"/> (a connected socket nobody else polls, or a TLS tunnel's end)
    /// from <paramref name="remote"/>; <paramref name="mustProveSecret"/> when it is not authenticated
    /// by a certificate and the watchdog has a secret.
    /// </summary>
    public void Add(int fd, IPEndPoint remote, bool mustProveSecret) => Post(() =>
    {
        var peer = new ReactorPeer(fd, remote, mustProveSecret) { Deadline = _time.GetTimestamp() + _helloTimeoutTicks };
        _peers[fd] = peer;
        Epoll.Add(_epoll, fd, (ulong)fd);
        Schedule(peer, peer.Deadline);
    });

    /// <summary>Sends <paramref name="attributes"/> to every established link.</summary>
    public void Broadcast(InstanceAttributes attributes) => Post(() =>
    {
        var length = HeartbeatCodec.Encode(new AttributesFrame(attributes), _send);
        foreach (var peer in _peers.Values.Where(p => p.State == ReactorPeerState.Up).ToList())
        {
            SendEncoded(peer, length);
        }
    });

    /// <summary>Closes every connection (after a Goodbye with <paramref name="goodbye"/> on established links when given) and stops.</summary>
    public Task StopAsync(string? goodbye)
    {
        Post(() =>
        {
            foreach (var peer in _peers.Values.ToList())
            {
                if (goodbye is not null && peer.State == ReactorPeerState.Up)
                {
                    Send(peer, new GoodbyeFrame(goodbye));
                }

                End(peer, "watchdog shutting down");
            }

            _stopping = true;
        });
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
    }

    private static bool IsTransient(int result) => result == -Epoll.EAGAIN;

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private void Post(Action command)
    {
        _commands.Enqueue(command);
        Epoll.Signal(_wake);
    }

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                var count = Epoll.Wait(_epoll, _events, WaitMilliseconds());
                for (var i = 0; i < count; i++)
                {
                    var data = Epoll.DataAt(_events, i);
                    if (data == WakeToken)
                    {
                        Epoll.Drain(_wake);
                    }
                    else if (_peers.TryGetValue((int)data, out var peer))
                    {
                        Receive(peer);
                    }
                }

                while (_commands.TryDequeue(out var command))
                {
                    command();
                }

                RunDue();
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Until the earliest due time, at most a second (commands wake it anyway).</summary>
    private int WaitMilliseconds()
    {
        if (!_due.TryPeek(out _, out var due))
        {
            return 1000;
        }

        var ms = (due - _time.GetTimestamp()) * 1000 / _time.TimestampFrequency;
        return (int)Math.Clamp(ms + 1, 0, 1000);
    }

    /// <summary>Makes sure the peer is looked at by <paramref name="due"/>; a later entry already queued stays, and is dropped when it pops.</summary>
    private void Schedule(ReactorPeer peer, long due)
    {
        if (due < peer.QueuedDue)
        {
            peer.QueuedDue = due;
            _due.Enqueue(peer, due);
        }
    }

    private void RunDue()
    {
        var now = _time.GetTimestamp();
        while (_due.TryPeek(out var peer, out var due) && due <= now + _beatSlackTicks)
        {
            _due.Dequeue();
            if (due != peer.QueuedDue)
            {
                continue;
            }

            peer.QueuedDue = long.MaxValue;
            switch (peer.State)
            {
                case ReactorPeerState.AwaitingHello when now >= peer.Deadline:
                    Abandon(peer, "hello", $"no hello within {HeartbeatLink.Format(_helloTimeout)}");
                    continue;
                case ReactorPeerState.Challenged when now >= peer.Deadline:
                    Abandon(peer, "secret", $"no answer to the authentication challenge within {HeartbeatLink.Format(_helloTimeout)} (watchdog.hello_timeout)");
                    continue;
                case ReactorPeerState.Up when now >= peer.Deadline:
                    End(peer, $"no heartbeat received for {HeartbeatLink.Format(TimeSpan.FromSeconds(peer.TimeoutTicks / (double)_time.TimestampFrequency))}");
                    continue;
                case ReactorPeerState.Up when now + _beatSlackTicks >= peer.NextBeat:
                    Beat(peer, now);
                    break;
            }

            if (peer.State != ReactorPeerState.Closed)
            {
                // After the loop: a deadline inside the slack window must not pop again at once.
                _reschedule.Add(peer);
            }
        }

        foreach (var peer in _reschedule)
        {
            Schedule(peer, peer.State == ReactorPeerState.Up ? Math.Min(peer.Deadline, peer.NextBeat) : peer.Deadline);
        }

        _reschedule.Clear();
    }

    private void Beat(ReactorPeer peer, long now)
    {
        var frequency = _time.TimestampFrequency;
        var nowUs = Microseconds.FromTimestamp(now, frequency);
        var echo = peer.PeerSentUs;
        var delay = echo == 0 ? 0 : nowUs - Microseconds.FromTimestamp(peer.PeerReceivedAt, frequency);

        // A reactor that fell behind (a paused process) beats once, not once per missed interval.
        peer.NextBeat = Math.Max(peer.NextBeat + peer.IntervalTicks, now + (peer.IntervalTicks / 2));
        SendEncoded(peer, HeartbeatCodec.WriteBeat(_send, Math.Max(1, nowUs), echo, delay));
    }

    private void Receive(ReactorPeer peer)
    {
        var filled = peer.PartialLength;
        if (filled > 0)
        {
            peer.Partial.AsSpan(0, filled).CopyTo(_receive);
            peer.PartialLength = 0;
        }

        var read = Epoll.Receive(peer.Fd, _receive.AsSpan(filled, ReceiveSize));
        if (read == 0 || (read < 0 && !IsTransient(read)))
        {
            End(peer, read == 0 ? "connection closed by peer" : read == -Epoll.ECONNRESET ? "connection error: Connection reset by peer" : $"connection error: errno {-read}");
            return;
        }

        filled += Math.Max(read, 0);
        var offset = 0;
        while (peer.State != ReactorPeerState.Closed)
        {
            if (peer.State == ReactorPeerState.Up && HeartbeatCodec.TryReadBeat(_receive.AsSpan(offset, filled - offset), out var sentUs))
            {
                // The steady state: a beat, read without allocating.
                offset += HeartbeatCodec.BeatLength;
                var at = _time.GetTimestamp();
                peer.Deadline = at + peer.TimeoutTicks;
                peer.PeerSentUs = sentUs;
                peer.PeerReceivedAt = at;
                continue;
            }

            var status = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(_receive, offset, filled - offset), out var frame, out var consumed, out var error);
            if (status == DecodeStatus.NeedMoreData)
            {
                break;
            }

            if (status == DecodeStatus.Invalid)
            {
                ProtocolViolation(peer, error ?? "invalid frame");
                return;
            }

            offset += (int)consumed;
            Dispatch(peer, frame!);
        }

        if (peer.State == ReactorPeerState.Closed)
        {
            return;
        }

        // Whatever is left is less than one frame: the decoder rejects a longer announced length.
        var rest = filled - offset;
        if (rest > 0)
        {
            peer.Partial ??= new byte[HeartbeatCodec.MaxFrameLength];
            _receive.AsSpan(offset, rest).CopyTo(peer.Partial);
        }
        else
        {
            peer.Partial = null;
        }

        peer.PartialLength = rest;
    }

    private void Dispatch(ReactorPeer peer, HeartbeatFrame frame)
    {
        var now = _time.GetTimestamp();
        if (peer.State == ReactorPeerState.AwaitingHello)
        {
            Hello(peer, frame, now);
            return;
        }

        if (peer.State == ReactorPeerState.Challenged)
        {
            Proof(peer, frame, now);
            return;
        }

        peer.Deadline = now + peer.TimeoutTicks;
        switch (frame)
        {
            case BeatFrame beat:
                peer.PeerSentUs = beat.SentUs;
                peer.PeerReceivedAt = now;
                break;
            case GoodbyeFrame goodbye:
                End(peer, $"peer closed the link: {goodbye.Reason}");
                break;
        }
    }

    private void Hello(ReactorPeer peer, HeartbeatFrame frame, long now)
    {
        if (frame is not HelloFrame hello)
        {
            Refuse(peer, "protocol", $"protocol violation: expected a hello frame, got {frame.Type}");
            return;
        }

        if (_policy.Judge(hello) is { } refusal)
        {
            Refuse(peer, "protocol", refusal);
            return;
        }

        if (peer.MustProveSecret)
        {
            if (hello.MinorVersion < HeartbeatCodec.SecretMinorVersion)
            {
                Refuse(peer, "secret", $"this watchdog requires authentication (protocol {HeartbeatCodec.MajorVersion}.{HeartbeatCodec.SecretMinorVersion}: a shared secret or a client certificate); conmgr speaks {hello.MajorVersion}.{hello.MinorVersion}");
                return;
            }

            // The same deadline as the Hello's: the whole handshake fits in watchdog.hello_timeout.
            peer.Hello = hello;
            peer.Challenge = HeartbeatSecret.NewNonce();
            peer.State = ReactorPeerState.Challenged;
            Send(peer, new ChallengeFrame(peer.Challenge));
            return;
        }

        Admit(peer, hello, now);
    }

    /// <summary>The answer to the challenge: the conmgr's proof checked, ours sent, then admission as for any Hello.</summary>
    private void Proof(ReactorPeer peer, HeartbeatFrame frame, long now)
    {
        if (frame is not ProofFrame proof)
        {
            Refuse(peer, "secret", $"protocol violation: expected a proof frame, got {frame.Type}");
            return;
        }

        var secret = _policy.Secret!;
        if (!HeartbeatSecret.Matches(HeartbeatSecret.ConmgrProof(secret, peer.Challenge, proof.Nonce), proof.Mac))
        {
            Refuse(peer, "secret", "authentication failed: the proof does not match this watchdog's secret (watchdog.secret_file)");
            return;
        }

        Send(peer, new ProofFrame(peer.Challenge!, HeartbeatSecret.WatchdogProof(secret, proof.Nonce, peer.Challenge)));
        var hello = peer.Hello!;
        peer.Hello = null;
        peer.Challenge = null;
        if (peer.State != ReactorPeerState.Closed)
        {
            Admit(peer, hello, now);
        }
    }

    /// <summary>An authenticated (or unauthenticated where nothing is asked) Hello: a slot, Welcome, attributes, the first beat.</summary>
    private void Admit(ReactorPeer peer, HelloFrame hello, long now)
    {
        if (_policy.Admit(peer) is { } full)
        {
            Refuse(peer, "slots", full);
            return;
        }

        peer.IntervalTicks = Ticks(TimeSpan.FromMilliseconds(hello.HeartbeatIntervalMs));
        peer.TimeoutTicks = Ticks(TimeSpan.FromMilliseconds(hello.HeartbeatTimeoutMs));
        peer.State = ReactorPeerState.Up;
        peer.Deadline = now + peer.TimeoutTicks;
        peer.NextBeat = now;
        Send(peer, new WelcomeFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion));
        if (peer.State == ReactorPeerState.Closed)
        {
            // The Welcome could not be sent: the slot is already released, and nothing was registered.
            return;
        }

        var attributes = _policy.Established(peer, hello);
        Send(peer, new AttributesFrame(attributes));
        if (peer.State == ReactorPeerState.Up)
        {
            Beat(peer, now);
            Schedule(peer, Math.Min(peer.Deadline, peer.NextBeat));
        }
    }

    private void ProtocolViolation(ReactorPeer peer, string error)
    {
        if (peer.State is ReactorPeerState.AwaitingHello or ReactorPeerState.Challenged)
        {
            Refuse(peer, peer.State == ReactorPeerState.Challenged ? "secret" : "protocol", $"protocol violation: {error}");
        }
        else
        {
            End(peer, $"protocol violation: {error}");
        }
    }

    /// <summary>Refusal frame, then close: a connection that never became a link.</summary>
    private void Refuse(ReactorPeer peer, string kind, string refusal)
    {
        Send(peer, new RefusalFrame(refusal));
        Abandon(peer, kind, refusal);
    }

    /// <summary>Closes a connection that never became a link, and reports why (counted, rate-limited in the log).</summary>
    private void Abandon(ReactorPeer peer, string kind, string reason)
    {
        if (peer.State != ReactorPeerState.Closed)
        {
            Close(peer);
            _policy.Closed(peer, null);
            _policy.Refused(peer, kind, reason);
        }
    }

    private void Send(ReactorPeer peer, HeartbeatFrame frame) => SendEncoded(peer, HeartbeatCodec.Encode(frame, _send));

    private void SendEncoded(ReactorPeer peer, int length)
    {
        if (peer.State == ReactorPeerState.Closed)
        {
            return;
        }

        if (Epoll.Send(peer.Fd, _send.AsSpan(0, length)) != length)
        {
            End(peer, "could not send: connection broken or peer not reading");
        }
    }

    /// <summary>Ends a connection: an established link is reported to the policy with its reason.</summary>
    private void End(ReactorPeer peer, string reason)
    {
        if (peer.State == ReactorPeerState.Closed)
        {
            return;
        }

        var wasUp = peer.State == ReactorPeerState.Up;
        Close(peer);
        _policy.Closed(peer, wasUp ? reason : null);
        if (!wasUp)
        {
            _policy.Refused(peer, peer.Challenge is null ? "hello" : "secret", reason);
        }
    }

    private void Close(ReactorPeer peer)
    {
        if (peer.State == ReactorPeerState.Closed)
        {
            return;
        }

        peer.State = ReactorPeerState.Closed;
        peer.Partial = null;
        _peers.Remove(peer.Fd);
        Epoll.Remove(_epoll, peer.Fd);
        Epoll.Close(peer.Fd);
    }
}
