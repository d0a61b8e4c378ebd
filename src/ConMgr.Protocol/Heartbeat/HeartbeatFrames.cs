// HeartbeatFrames.cs: one small sealed type per heartbeat frame, each encoding its own payload.
using System.Buffers.Binary;
using System.Text;

namespace ConMgr.Protocol.Heartbeat;

/// <summary>A frame of the heartbeat protocol: type byte, int32 length (itself included), payload.</summary>
public abstract record HeartbeatFrame
{
    private protected HeartbeatFrame()
    {
    }

    public abstract HeartbeatFrameType Type { get; }

    /// <summary>Payload size in bytes.</summary>
    public abstract int PayloadLength { get; }

    /// <summary>Writes the payload (not the header) into <paramref name="destination"/>.</summary>
    public abstract void WritePayload(Span<byte> destination);
}

/// <summary>
/// conmgr's opening frame. Intervals travel in milliseconds so sub-second settings survive.
/// <see cref="ConmgrId"/> (protocol 1.1) is random per conmgr process: a watchdog tells a conmgr
/// that reconnects from "another conmgr on the same host" by it (0: a 1.0 peer, unknown).
/// </summary>
public sealed record HelloFrame(short MajorVersion, short MinorVersion, int HeartbeatIntervalMs, int HeartbeatTimeoutMs, long ConmgrId = 0) : HeartbeatFrame
{
    /// <summary>"CMHB": lets a watchdog tell a conmgr from a stray client at the first four bytes.</summary>
    public const int Magic = 0x434D4842;

    /// <summary>Payload of a 1.0 Hello (no conmgr id); still accepted.</summary>
    public const int V10Length = 16;

    /// <summary>Payload of a 1.1 Hello, with the conmgr id.</summary>
    public const int V11Length = 24;

    public override HeartbeatFrameType Type => HeartbeatFrameType.Hello;

    public override int PayloadLength => V11Length;

    public override void WritePayload(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt32BigEndian(destination, Magic);
        BinaryPrimitives.WriteInt16BigEndian(destination[4..], MajorVersion);
        BinaryPrimitives.WriteInt16BigEndian(destination[6..], MinorVersion);
        BinaryPrimitives.WriteInt32BigEndian(destination[8..], HeartbeatIntervalMs);
        BinaryPrimitives.WriteInt32BigEndian(destination[12..], HeartbeatTimeoutMs);
        BinaryPrimitives.WriteInt64BigEndian(destination[16..], ConmgrId);
    }
}

/// <summary>The watchdog accepts the Hello; attributes follow at once.</summary>
public sealed record WelcomeFrame(short MajorVersion, short MinorVersion) : HeartbeatFrame
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Welcome;

    public override int PayloadLength => 4;

    public override void WritePayload(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt16BigEndian(destination, MajorVersion);
        BinaryPrimitives.WriteInt16BigEndian(destination[2..], MinorVersion);
    }
}

/// <summary>
/// A heartbeat. Times are the sender's monotonic clock in microseconds. <see cref="EchoUs"/> is the
/// <see cref="SentUs"/> of the last beat received from the peer (0 if none) and <see cref="EchoDelayUs"/>
/// how long ago it arrived, so the peer computes RTT = now − EchoUs − EchoDelayUs on its own clock.
/// </summary>
public sealed record BeatFrame(long SentUs, long EchoUs, long EchoDelayUs) : HeartbeatFrame
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Beat;

    public override int PayloadLength => 24;

    public override void WritePayload(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, SentUs);
        BinaryPrimitives.WriteInt64BigEndian(destination[8..], EchoUs);
        BinaryPrimitives.WriteInt64BigEndian(destination[16..], EchoDelayUs);
    }
}

/// <summary>What the watchdog knows of its instance.</summary>
public sealed record AttributesFrame(InstanceAttributes Attributes) : HeartbeatFrame
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Attributes;

    public override int PayloadLength => 37;

    public override void WritePayload(Span<byte> destination)
    {
        var a = Attributes;
        destination[0] = (byte)((a.Available ? 1 : 0) | (a.InRecovery ? 2 : 0) | (a.DefaultTransactionReadOnly ? 4 : 0) | (a.ReadOnlySessions ? 8 : 0));
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], a.Timeline);
        BinaryPrimitives.WriteInt64BigEndian(destination[5..], a.SystemIdentifier);
        BinaryPrimitives.WriteInt64BigEndian(destination[13..], a.Lsn);
        BinaryPrimitives.WriteInt64BigEndian(destination[21..], a.ReplayLagUs);
        BinaryPrimitives.WriteInt32BigEndian(destination[29..], a.ServerVersionNum);
        BinaryPrimitives.WriteInt32BigEndian(destination[33..], a.Sequence);
    }
}

/// <summary>A frame whose whole payload is a UTF-8 reason, at most <see cref="HeartbeatCodec.MaxTextBytes"/> bytes.</summary>
public abstract record TextFrame(string Reason) : HeartbeatFrame
{
    public override int PayloadLength => HeartbeatCodec.TextLength(Reason);

    public override void WritePayload(Span<byte> destination) => HeartbeatCodec.WriteText(destination, Reason);
}

/// <summary>Orderly close, with a reason.</summary>
public sealed record GoodbyeFrame(string Reason) : TextFrame(Reason)
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Goodbye;
}

/// <summary>The watchdog refuses the connection (version, limit), with a reason.</summary>
public sealed record RefusalFrame(string Reason) : TextFrame(Reason)
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Refusal;
}

/// <summary>The watchdog asks conmgr to prove the shared secret (protocol 1.2): a fresh random nonce.</summary>
public sealed record ChallengeFrame(byte[] Nonce) : HeartbeatFrame
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Challenge;

    public override int PayloadLength => HeartbeatSecret.NonceLength;

    public override void WritePayload(Span<byte> destination) => Nonce.AsSpan(0, HeartbeatSecret.NonceLength).CopyTo(destination);

    /// <summary>By content: two challenges with the same nonce are the same frame.</summary>
    public bool Equals(ChallengeFrame? other) => other is not null && Nonce.AsSpan().SequenceEqual(other.Nonce);

    public override int GetHashCode() => BitConverter.ToInt32(Nonce, 0);
}

/// <summary>
/// A proof of the shared secret (protocol 1.2): the sender's own fresh nonce and an HMAC-SHA256
/// over both nonces (<see cref="HeartbeatSecret"/>). conmgr sends one to answer a Challenge; the
/// watchdog answers with its own before Welcome, so each side knows the other holds the secret.
/// </summary>
public sealed record ProofFrame(byte[] Nonce, byte[] Mac) : HeartbeatFrame
{
    public override HeartbeatFrameType Type => HeartbeatFrameType.Proof;

    public override int PayloadLength => HeartbeatSecret.NonceLength + HeartbeatSecret.MacLength;

    public override void WritePayload(Span<byte> destination)
    {
        Nonce.AsSpan(0, HeartbeatSecret.NonceLength).CopyTo(destination);
        Mac.AsSpan(0, HeartbeatSecret.MacLength).CopyTo(destination[HeartbeatSecret.NonceLength..]);
    }

    /// <summary>By content, as the other frames compare.</summary>
    public bool Equals(ProofFrame? other) => other is not null && Nonce.AsSpan().SequenceEqual(other.Nonce) && Mac.AsSpan().SequenceEqual(other.Mac);

    public override int GetHashCode() => BitConverter.ToInt32(Mac, 0);
}
