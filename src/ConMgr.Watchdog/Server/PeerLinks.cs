// PeerLinks.cs: the watchdog's side of each heartbeat connection on the shared reactor: Hello, challenge, admission, and what a closed link is reported as.
using System.Net;
using ConMgr.Heartbeat;
using ConMgr.Heartbeat.Reactor;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Watchdog.Server;

/// <summary>What the watchdog's links ask of it at each step of a connection's life (<see cref="HeartbeatServer"/>).</summary>
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

    /// <summary>An authentication lookup arrived on an established link (reactor thread: must not block).</summary>
    void Lookup(ReactorPeer peer, AuthLookupFrame request);

    /// <summary>The connection is closed (its descriptor too); <paramref name="verdict"/> is why, for an established link.</summary>
    void Closed(ReactorPeer peer, LinkVerdict? verdict);
}

/// <summary>
/// Every conmgr connection of the watchdog, served by one <see cref="HeartbeatReactor"/> (one
/// thread, no task, timer or buffer per connection: ten thousand peers cost ten thousand small
/// <see cref="ReactorPeer"/>s). This class is the watchdog's handshake: the Hello judged, the
/// shared-secret challenge, admission against max_heartbeat_connections, Welcome and the first
/// Attributes; the reactor beats, receives and judges the links (docs/protocol.md).
/// </summary>
internal sealed class PeerLinks : ILinkHandler, IDisposable
{
    private readonly IReactorPolicy _policy;
    private readonly HeartbeatReactor _reactor;
    private readonly TimeSpan _helloTimeout;

    public PeerLinks(IReactorPolicy policy, TimeSpan helloTimeout, TimeProvider time, ServerLog log)
    {
        _policy = policy;
        _helloTimeout = helloTimeout;
        _reactor = new HeartbeatReactor("watchdog", time, log);
    }

    /// <summary>The reactor, for its scheduling and pause figures.</summary>
    public HeartbeatReactor Reactor => _reactor;

    /// <summary>
    /// Takes over <paramref name="fd"/> (a connected socket nobody else polls, or a TLS tunnel's end)
    /// from <paramref name="remote"/>; <paramref name="mustProveSecret"/> when it is not authenticated
    /// by a certificate and the watchdog has a secret.
    /// </summary>
    /// <param name="byCertificate">TLS verified the peer's client certificate (lookups are answered only then).</param>
    public void Add(int fd, IPEndPoint remote, bool mustProveSecret, bool byCertificate = false) =>
        _reactor.Add(new ReactorPeer(fd, remote, mustProveSecret, this, byCertificate), _helloTimeout);

    /// <summary>Sends <paramref name="frame"/> to <paramref name="peer"/> from any thread, if its link is still up then.</summary>
    public void SendLater(ReactorPeer peer, HeartbeatFrame frame) => _reactor.Post(() =>
    {
        if (peer.State == LinkState.Up)
        {
            _reactor.Send(peer, frame);
        }
    });

    /// <summary>Sends <paramref name="attributes"/> to every established link.</summary>
    public void Broadcast(InstanceAttributes attributes) => _reactor.Broadcast(new AttributesFrame(attributes));

    /// <summary>Closes every connection (after a Goodbye with <paramref name="goodbye"/> on established links when given) and stops.</summary>
    public Task StopAsync(string? goodbye) => _reactor.StopAsync(goodbye);

    public void Dispose() => _reactor.Dispose();

    void ILinkHandler.OnHandshakeFrame(ReactorLink link, HeartbeatFrame frame)
    {
        var peer = (ReactorPeer)link;
        if (peer.Step == HandshakeStep.AwaitingHello)
        {
            Hello(peer, frame);
        }
        else if (peer.Step == HandshakeStep.Challenged)
        {
            Proof(peer, frame);
        }
    }

    void ILinkHandler.OnHandshakeExpired(ReactorLink link)
    {
        var peer = (ReactorPeer)link;
        peer.Refusal = peer.Step == HandshakeStep.Challenged
            ? ("secret", $"no answer to the authentication challenge within {Durations.Format(_helloTimeout)} (watchdog.hello_timeout)")
            : ("hello", $"no hello within {Durations.Format(_helloTimeout)}");
    }

    void ILinkHandler.OnHandshakeViolation(ReactorLink link, string violation)
    {
        var peer = (ReactorPeer)link;
        Refuse(peer, peer.Step == HandshakeStep.Challenged ? "secret" : "protocol", $"protocol violation: {violation}");
    }

    void ILinkHandler.OnFrame(ReactorLink link, HeartbeatFrame frame)
    {
        // conmgr sends beats, Goodbye and (1.4) lookups once up; anything else is ignored, as before.
        if (frame is AuthLookupFrame lookup)
        {
            _policy.Lookup((ReactorPeer)link, lookup);
        }
    }

    void ILinkHandler.OnClosed(ReactorLink link, LinkVerdict verdict, bool wasUp)
    {
        var peer = (ReactorPeer)link;
        _policy.Closed(peer, wasUp ? verdict : null);
        if (!wasUp)
        {
            var (kind, reason) = peer.Refusal ?? (peer.Step == HandshakeStep.Challenged ? "secret" : "hello", verdict.Reason);
            _policy.Refused(peer, kind, reason);
        }
    }

    private void Hello(ReactorPeer peer, HeartbeatFrame frame)
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
            peer.Step = HandshakeStep.Challenged;
            _reactor.Send(peer, new ChallengeFrame(peer.Challenge));
            return;
        }

        Admit(peer, hello);
    }

    /// <summary>The answer to the challenge: the conmgr's proof checked, ours sent, then admission as for any Hello.</summary>
    private void Proof(ReactorPeer peer, HeartbeatFrame frame)
    {
        if (frame is not ProofFrame proof)
        {
            Refuse(peer, "secret", $"protocol violation: expected a proof frame, got {frame.Type}");
            return;
        }

        var secret = _policy.Secret!;
        var hello = peer.Hello!;
        if (!HeartbeatSecret.Matches(HeartbeatSecret.ConmgrProof(secret, peer.Challenge, proof.Nonce, hello), proof.Mac))
        {
            Refuse(peer, "secret", "authentication failed: the proof does not match this watchdog's secret (watchdog.secret_file) and the Hello received");
            return;
        }

        _reactor.Send(peer, new ProofFrame(peer.Challenge!, HeartbeatSecret.WatchdogProof(secret, proof.Nonce, peer.Challenge, hello)));
        peer.Hello = null;
        if (peer.State != LinkState.Closed)
        {
            Admit(peer, hello);
        }
    }

    /// <summary>An authenticated (or unauthenticated where nothing is asked) Hello: a slot, Welcome, attributes, the first beat.</summary>
    private void Admit(ReactorPeer peer, HelloFrame hello)
    {
        if (_policy.Admit(peer) is { } full)
        {
            Refuse(peer, "slots", full);
            return;
        }

        peer.Step = HandshakeStep.Done;
        peer.Challenge = null;
        _reactor.Establish(peer, TimeSpan.FromMilliseconds(hello.HeartbeatIntervalMs), TimeSpan.FromMilliseconds(hello.HeartbeatTimeoutMs), beatNow: false);
        _reactor.Send(peer, new WelcomeFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion));
        if (peer.State != LinkState.Up)
        {
            // The Welcome could not be sent: the slot is already released, and nothing was registered.
            return;
        }

        var attributes = _policy.Established(peer, hello);
        _reactor.Send(peer, new AttributesFrame(attributes));
        _reactor.BeatNow(peer);
    }

    /// <summary>Refusal frame, then close: a connection that never became a link.</summary>
    private void Refuse(ReactorPeer peer, string kind, string refusal)
    {
        peer.Refusal = (kind, refusal);
        _reactor.Send(peer, new RefusalFrame(refusal));
        _reactor.Close(peer, LinkVerdict.Plain(LinkEnd.Local, refusal, TimeSpan.Zero));
    }
}
