// HeartbeatSecretTests.cs: the shared-secret handshake's arithmetic and both ends of it over a real socket pair: who proves what, and every way it fails.
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.UnitTests.Protocol;

public sealed class HeartbeatSecretTests
{
    private static readonly byte[] Secret = "0123456789abcdef-shared"u8.ToArray();

    private static readonly HelloFrame AHello = new(1, 3, 200, 1000, 42);

    [Fact]
    public void Proofs_depend_on_the_secret_both_nonces_the_side_and_every_field_of_the_hello_and_compare_only_whole()
    {
        var watchdogNonce = HeartbeatSecret.NewNonce();
        var conmgrNonce = HeartbeatSecret.NewNonce();
        var proof = HeartbeatSecret.ConmgrProof(Secret, watchdogNonce, conmgrNonce, AHello);

        Assert.Equal(HeartbeatSecret.MacLength, proof.Length);
        Assert.True(HeartbeatSecret.Matches(proof, HeartbeatSecret.ConmgrProof(Secret, watchdogNonce, conmgrNonce, AHello)));
        Assert.False(HeartbeatSecret.Matches(proof, HeartbeatSecret.ConmgrProof("another secret of length"u8.ToArray(), watchdogNonce, conmgrNonce, AHello)));
        Assert.False(HeartbeatSecret.Matches(proof, HeartbeatSecret.ConmgrProof(Secret, HeartbeatSecret.NewNonce(), conmgrNonce, AHello)));

        // A Hello altered on the path (any field) changes the proof: the watchdog would refuse it.
        foreach (var altered in new[] { AHello with { HeartbeatIntervalMs = 2_000_000 }, AHello with { HeartbeatTimeoutMs = 3_600_000 }, AHello with { ConmgrId = 43 }, AHello with { MinorVersion = 2 } })
        {
            Assert.False(HeartbeatSecret.Matches(proof, HeartbeatSecret.ConmgrProof(Secret, watchdogNonce, conmgrNonce, altered)));
            Assert.False(HeartbeatSecret.Matches(HeartbeatSecret.WatchdogProof(Secret, conmgrNonce, watchdogNonce, AHello), HeartbeatSecret.WatchdogProof(Secret, conmgrNonce, watchdogNonce, altered)));
        }

        // One side's proof is never the other's: a reflected proof does not pass.
        Assert.False(HeartbeatSecret.Matches(proof, HeartbeatSecret.WatchdogProof(Secret, watchdogNonce, conmgrNonce, AHello)));
        Assert.False(HeartbeatSecret.Matches(proof, proof.AsSpan(0, 31)));
        Assert.NotEqual(HeartbeatSecret.NewNonce(), HeartbeatSecret.NewNonce());
    }

    [Fact]
    public async Task With_the_right_secret_conmgr_proves_itself_checks_the_watchdogs_proof_and_gets_welcome_and_attributes()
    {
        var frames = await HandshakeAsync(Secret, watchdogVerified: false, async (peer, hello) =>
        {
            var challenge = HeartbeatSecret.NewNonce();
            Send(peer, new ChallengeFrame(challenge));
            var proof = Assert.IsType<ProofFrame>(await ReceiveAsync(peer));
            Assert.True(HeartbeatSecret.Matches(HeartbeatSecret.ConmgrProof(Secret, challenge, proof.Nonce, hello), proof.Mac));
            Send(peer, new ProofFrame(challenge, HeartbeatSecret.WatchdogProof(Secret, proof.Nonce, challenge, hello)));
            Send(peer, new WelcomeFrame(1, 2));
            Send(peer, new AttributesFrame(InstanceAttributes.Unavailable));
        });

        Assert.IsType<WelcomeFrame>(frames![0]);
        Assert.IsType<AttributesFrame>(frames[1]);
    }

    [Fact]
    public async Task A_watchdog_whose_proof_is_wrong_or_missing_is_refused_and_a_challenge_without_a_secret_says_what_to_set()
    {
        var wrong = await Assert.ThrowsAsync<HeartbeatProtocolException>(() => HandshakeAsync(Secret, watchdogVerified: false, async (peer, hello) =>
        {
            var challenge = HeartbeatSecret.NewNonce();
            Send(peer, new ChallengeFrame(challenge));
            var proof = Assert.IsType<ProofFrame>(await ReceiveAsync(peer));
            Send(peer, new ProofFrame(challenge, HeartbeatSecret.WatchdogProof("not the secret at all"u8.ToArray(), proof.Nonce, challenge, hello)));
            Send(peer, new WelcomeFrame(1, 2));
        }));
        Assert.Contains("the watchdog's proof does not match heartbeat_secret_file", wrong.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<HeartbeatProtocolException>(() => HandshakeAsync(Secret, watchdogVerified: false, (peer, hello) =>
        {
            Send(peer, new WelcomeFrame(1, 1));
            Send(peer, new AttributesFrame(InstanceAttributes.Unavailable));
            return Task.CompletedTask;
        }));
        Assert.Contains("the watchdog did not prove the shared secret", missing.Message, StringComparison.Ordinal);

        // Over TLS the watchdog's certificate already proved it: no secret needed from it.
        var overTls = await HandshakeAsync(Secret, watchdogVerified: true, (peer, hello) =>
        {
            Send(peer, new WelcomeFrame(1, 2));
            Send(peer, new AttributesFrame(InstanceAttributes.Unavailable));
            return Task.CompletedTask;
        });
        Assert.IsType<WelcomeFrame>(overTls![0]);

        var noSecret = await Assert.ThrowsAsync<HeartbeatProtocolException>(() => HandshakeAsync(null, watchdogVerified: false, (peer, hello) =>
        {
            Send(peer, new ChallengeFrame(HeartbeatSecret.NewNonce()));
            return Task.CompletedTask;
        }));
        Assert.Contains("heartbeat_secret_file is not set", noSecret.Message, StringComparison.Ordinal);
    }

    /// <summary>conmgr's handshake against a scripted watchdog on a loopback connection; the script gets the Hello first.</summary>
    private static async Task<List<HeartbeatFrame>?> HandshakeAsync(byte[]? secret, bool watchdogVerified, Func<Socket, HelloFrame, Task> watchdog)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var peer = await listener.AcceptSocketAsync();
        using var channel = new HeartbeatChannel(client);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handshake = HeartbeatHandshake.ClientAsync(channel, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), 42, cts.Token, secret, watchdogVerified);
        var hello = Assert.IsType<HelloFrame>(await ReceiveAsync(peer));
        Assert.Equal(HeartbeatCodec.MinorVersion, hello.MinorVersion);
        await watchdog(peer, hello);
        return await handshake;
    }

    private static void Send(Socket socket, HeartbeatFrame frame) => socket.Send(HeartbeatCodec.ToArray(frame));

    private static async Task<HeartbeatFrame> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[HeartbeatCodec.MaxFrameLength];
        var filled = 0;
        while (true)
        {
            var status = HeartbeatCodec.TryDecode(new System.Buffers.ReadOnlySequence<byte>(buffer, 0, filled), out var frame, out _, out var error);
            if (status == DecodeStatus.Complete)
            {
                return frame!;
            }

            Assert.NotEqual(DecodeStatus.Invalid, status);
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            Assert.True(read > 0, $"closed: {error}");
            filled += read;
        }
    }
}
