// HeartbeatHandshake.cs: conmgr's side of the first exchange: Hello out, Welcome + Attributes (or a Refusal) back.
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat;

public static class HeartbeatHandshake
{
    /// <summary>
    /// Sends Hello and reads until the answer is complete: a Refusal (or any unexpected first
    /// frame), or a Welcome followed by the first Attributes, so a link is only ever up with real
    /// attributes. Returns every frame read, first frame first; null when the peer closed first.
    /// </summary>
    /// <remarks><paramref name="conmgrId"/>: this conmgr process's identity (see <see cref="HelloFrame.ConmgrId"/>).</remarks>
    public static async Task<List<HeartbeatFrame>?> ClientAsync(HeartbeatChannel channel, TimeSpan interval, TimeSpan timeout, long conmgrId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(channel);
        channel.TrySend(new HelloFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion, (int)interval.TotalMilliseconds, (int)timeout.TotalMilliseconds, conmgrId));
        var frames = new List<HeartbeatFrame>();
        while (frames.Count == 0 || (frames[0] is WelcomeFrame && !frames.OfType<AttributesFrame>().Any()))
        {
            if (!await channel.ReceiveAsync(frames.Add, cancellationToken))
            {
                return null;
            }
        }

        return frames;
    }
}
