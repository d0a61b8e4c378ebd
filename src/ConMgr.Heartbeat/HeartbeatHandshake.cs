// HeartbeatHandshake.cs: conmgr's side of the first exchange: Hello out, the shared-secret challenge when asked, Welcome + Attributes (or a Refusal) back.
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat;

public static class HeartbeatHandshake
{
    /// <summary>
    /// Sends Hello and reads until the answer is complete: a Refusal (or any unexpected first
    /// frame), or a Welcome followed by the first Attributes, so a link is only ever up with real
    /// attributes. A Challenge (protocol 1.2) is answered with a Proof of <paramref name="secret"/>,
    /// and the watchdog's own Proof is checked before its Welcome is taken. Returns every frame
    /// read after the authentication, first frame first; null when the peer closed first.
    /// </summary>
    /// <remarks><paramref name="conmgrId"/>: this conmgr process's identity (see <see cref="HelloFrame.ConmgrId"/>).</remarks>
    /// <param name="secret">The shared secret (heartbeat_secret_file), or null.</param>
    /// <param name="watchdogVerified">True when TLS already verified the watchdog's certificate: it need not prove the secret.</param>
    /// <exception cref="HeartbeatProtocolException">Authentication failed either way; the message says why.</exception>
    public static async Task<List<HeartbeatFrame>?> ClientAsync(HeartbeatChannel channel, TimeSpan interval, TimeSpan timeout, long conmgrId, CancellationToken cancellationToken, byte[]? secret = null, bool watchdogVerified = false)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var hello = new HelloFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion, (int)interval.TotalMilliseconds, (int)timeout.TotalMilliseconds, conmgrId);
        channel.TrySend(hello);
        var frames = new List<HeartbeatFrame>();
        byte[]? challenge = null;
        byte[]? ourNonce = null;
        var proven = false;
        while (true)
        {
            if (frames.Count > 0 && frames[0] is ChallengeFrame asked)
            {
                if (secret is null)
                {
                    throw new HeartbeatProtocolException("the watchdog requires a shared secret (watchdog.secret_file) and heartbeat_secret_file is not set");
                }

                challenge = asked.Nonce;
                ourNonce = HeartbeatSecret.NewNonce();
                channel.TrySend(new ProofFrame(ourNonce, HeartbeatSecret.ConmgrProof(secret, challenge, ourNonce, hello)));
                frames.RemoveAt(0);
                continue;
            }

            if (frames.Count > 0 && frames[0] is ProofFrame proof)
            {
                if (secret is null || challenge is null || ourNonce is null || !HeartbeatSecret.Matches(HeartbeatSecret.WatchdogProof(secret, ourNonce, challenge, hello), proof.Mac))
                {
                    throw new HeartbeatProtocolException("authentication failed: the watchdog's proof does not match heartbeat_secret_file");
                }

                proven = true;
                frames.RemoveAt(0);
                continue;
            }

            if (frames.Count > 0 && frames[0] is WelcomeFrame && secret is not null && !proven && !watchdogVerified)
            {
                throw new HeartbeatProtocolException("authentication failed: the watchdog did not prove the shared secret (is watchdog.secret_file set?)");
            }

            if (frames.Count > 0 && (frames[0] is not WelcomeFrame || frames.OfType<AttributesFrame>().Any()))
            {
                return frames;
            }

            if (!await channel.ReceiveAsync(frames.Add, cancellationToken))
            {
                return null;
            }
        }
    }
}
