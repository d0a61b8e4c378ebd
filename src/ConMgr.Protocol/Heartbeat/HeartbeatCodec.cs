// HeartbeatCodec.cs: encodes and decodes heartbeat frames; no sockets, any segmentation of the input.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using ConMgr.Protocol;

namespace ConMgr.Protocol.Heartbeat;

/// <summary>
/// Frame layout: type (1 byte), length (int32 big-endian, counting itself and the payload),
/// payload. A frame is at most <see cref="MaxFrameLength"/> bytes; a larger length word, an
/// unknown type or a payload of the wrong size is a protocol error and the connection is closed.
/// </summary>
public static class HeartbeatCodec
{
    public const short MajorVersion = 1;
    public const short MinorVersion = 4;

    /// <summary>The first minor version with authentication lookups (AuthLookup, AuthLookupAnswer): an older watchdog never answers one.</summary>
    public const short LookupMinorVersion = 4;

    /// <summary>
    /// The minor version of the shared-secret handshake this side speaks (Challenge, Proof with the
    /// Hello inside the MACs). 1.2's proofs left the Hello out; a 1.2 peer is refused rather than
    /// judged by a weaker proof it could be downgraded to.
    /// </summary>
    public const short SecretMinorVersion = 3;

    /// <summary>Largest frame, header included.</summary>
    public const int MaxFrameLength = 1024;

    /// <summary>Largest text (Goodbye/Refusal reason) in bytes; longer text is cut at a character boundary.</summary>
    public const int MaxTextBytes = 512;

    public const int HeaderLength = 5;

    public static int EncodedLength(HeartbeatFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        return HeaderLength + frame.PayloadLength;
    }

    /// <summary>Encodes <paramref name="frame"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Encode(HeartbeatFrame frame, Span<byte> destination)
    {
        var length = EncodedLength(frame);
        destination[0] = (byte)frame.Type;
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], length - 1);
        frame.WritePayload(destination[HeaderLength..length]);
        return length;
    }

    public static byte[] ToArray(HeartbeatFrame frame)
    {
        var bytes = new byte[EncodedLength(frame)];
        Encode(frame, bytes);
        return bytes;
    }

    /// <summary>
    /// Decodes one frame from the start of <paramref name="buffer"/>. On <see cref="DecodeStatus.Complete"/>,
    /// <paramref name="consumed"/> is the frame's length; nothing is consumed otherwise.
    /// </summary>
    public static DecodeStatus TryDecode(ReadOnlySequence<byte> buffer, out HeartbeatFrame? frame, out long consumed, out string? error)
    {
        frame = null;
        consumed = 0;
        error = null;
        if (buffer.Length < HeaderLength)
        {
            // A length word is checked as soon as it is whole, so garbage fails fast.
            return buffer.Length >= 1 && !Enum.IsDefined((HeartbeatFrameType)buffer.FirstSpan[0]) ? Invalid($"unknown frame type 0x{buffer.FirstSpan[0]:x2}", out error) : DecodeStatus.NeedMoreData;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(header);
        var type = (HeartbeatFrameType)header[0];
        var length = BinaryPrimitives.ReadInt32BigEndian(header[1..]);
        if (!Enum.IsDefined(type))
        {
            return Invalid($"unknown frame type 0x{header[0]:x2}", out error);
        }

        // The length word counts itself, not the type byte. Compared without adding to it: a word
        // near int.MaxValue must not wrap into a small or negative frame size.
        if (length < 4 || length > MaxFrameLength - 1)
        {
            return Invalid($"invalid frame length {length}", out error);
        }

        var frameLength = length + 1;
        if (buffer.Length < frameLength)
        {
            return DecodeStatus.NeedMoreData;
        }

        // A fixed-size scratch buffer: its size never comes from the wire.
        Span<byte> scratch = stackalloc byte[MaxFrameLength];
        var payload = scratch[..(frameLength - HeaderLength)];
        buffer.Slice(HeaderLength, payload.Length).CopyTo(payload);
        frame = DecodePayload(type, payload, out error);
        if (frame is null)
        {
            return DecodeStatus.Invalid;
        }

        consumed = frameLength;
        return DecodeStatus.Complete;
    }

    /// <summary>Bytes of a whole Beat frame, header included.</summary>
    public const int BeatLength = HeaderLength + 24;

    /// <summary>
    /// The allocation-free path for the one frame that arrives every interval on every link: when
    /// <paramref name="buffer"/> starts with a whole, well-formed Beat, gives its <c>sent</c> field
    /// and returns true (the frame is <see cref="BeatLength"/> bytes). Anything else, including a
    /// Beat with a wrong length word, returns false and is left to <see cref="TryDecode"/>, which
    /// judges it.
    /// </summary>
    public static bool TryReadBeat(ReadOnlySpan<byte> buffer, out long sentUs)
    {
        if (buffer.Length >= BeatLength && buffer[0] == (byte)HeartbeatFrameType.Beat && BinaryPrimitives.ReadInt32BigEndian(buffer[1..]) == BeatLength - 1)
        {
            sentUs = BinaryPrimitives.ReadInt64BigEndian(buffer[HeaderLength..]);
            return true;
        }

        sentUs = 0;
        return false;
    }

    /// <summary>As <see cref="TryReadBeat(ReadOnlySpan{byte}, out long)"/>, with the echo fields too (for the round-trip time).</summary>
    public static bool TryReadBeat(ReadOnlySpan<byte> buffer, out long sentUs, out long echoUs, out long echoDelayUs)
    {
        if (TryReadBeat(buffer, out sentUs))
        {
            echoUs = BinaryPrimitives.ReadInt64BigEndian(buffer[(HeaderLength + 8)..]);
            echoDelayUs = BinaryPrimitives.ReadInt64BigEndian(buffer[(HeaderLength + 16)..]);
            return true;
        }

        echoUs = 0;
        echoDelayUs = 0;
        return false;
    }

    /// <summary>Encodes a Beat without allocating a frame object; returns <see cref="BeatLength"/>.</summary>
    public static int WriteBeat(Span<byte> destination, long sentUs, long echoUs, long echoDelayUs)
    {
        destination[0] = (byte)HeartbeatFrameType.Beat;
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], BeatLength - 1);
        BinaryPrimitives.WriteInt64BigEndian(destination[HeaderLength..], sentUs);
        BinaryPrimitives.WriteInt64BigEndian(destination[(HeaderLength + 8)..], echoUs);
        BinaryPrimitives.WriteInt64BigEndian(destination[(HeaderLength + 16)..], echoDelayUs);
        return BeatLength;
    }

    internal static int TextLength(string text) => Encoding.UTF8.GetByteCount(Truncate(text));

    internal static void WriteText(Span<byte> destination, string text) => Encoding.UTF8.GetBytes(Truncate(text), destination);

    private static string Truncate(string text) => Utf8Text.Cut(text, MaxTextBytes);

    private static HeartbeatFrame? DecodePayload(HeartbeatFrameType type, ReadOnlySpan<byte> p, out string? error)
    {
        error = null;
        switch (type)
        {
            case HeartbeatFrameType.Hello when p.Length is HelloFrame.V10Length or HelloFrame.V11Length:
                if (BinaryPrimitives.ReadInt32BigEndian(p) != HelloFrame.Magic)
                {
                    error = "bad magic in hello frame";
                    return null;
                }

                return new HelloFrame(
                    BinaryPrimitives.ReadInt16BigEndian(p[4..]),
                    BinaryPrimitives.ReadInt16BigEndian(p[6..]),
                    BinaryPrimitives.ReadInt32BigEndian(p[8..]),
                    BinaryPrimitives.ReadInt32BigEndian(p[12..]),
                    p.Length == HelloFrame.V11Length ? BinaryPrimitives.ReadInt64BigEndian(p[16..]) : 0);
            case HeartbeatFrameType.Welcome when p.Length == 4:
                return new WelcomeFrame(BinaryPrimitives.ReadInt16BigEndian(p), BinaryPrimitives.ReadInt16BigEndian(p[2..]));
            case HeartbeatFrameType.Beat when p.Length == 24:
                return new BeatFrame(BinaryPrimitives.ReadInt64BigEndian(p), BinaryPrimitives.ReadInt64BigEndian(p[8..]), BinaryPrimitives.ReadInt64BigEndian(p[16..]));
            case HeartbeatFrameType.Attributes when p.Length == 37:
                return new AttributesFrame(new InstanceAttributes(
                    (p[0] & 1) != 0,
                    (p[0] & 2) != 0,
                    (p[0] & 4) != 0,
                    BinaryPrimitives.ReadInt32BigEndian(p[1..]),
                    BinaryPrimitives.ReadInt64BigEndian(p[5..]),
                    BinaryPrimitives.ReadInt64BigEndian(p[13..]),
                    BinaryPrimitives.ReadInt64BigEndian(p[21..]),
                    BinaryPrimitives.ReadInt32BigEndian(p[29..]),
                    BinaryPrimitives.ReadInt32BigEndian(p[33..]),
                    (p[0] & 8) != 0));
            case HeartbeatFrameType.Goodbye when p.Length <= MaxTextBytes:
                return new GoodbyeFrame(PeerText.Escape(Encoding.UTF8.GetString(p)));
            case HeartbeatFrameType.Refusal when p.Length <= MaxTextBytes:
                return new RefusalFrame(PeerText.Escape(Encoding.UTF8.GetString(p)));
            case HeartbeatFrameType.Challenge when p.Length == HeartbeatSecret.NonceLength:
                return new ChallengeFrame(p.ToArray());
            case HeartbeatFrameType.Proof when p.Length == HeartbeatSecret.NonceLength + HeartbeatSecret.MacLength:
                return new ProofFrame(p[..HeartbeatSecret.NonceLength].ToArray(), p[HeartbeatSecret.NonceLength..].ToArray());
            case HeartbeatFrameType.AuthLookup:
                return AuthLookupFrame.Decode(p, out error);
            case HeartbeatFrameType.AuthLookupAnswer:
                return AuthLookupAnswerFrame.Decode(p, out error);
            default:
                error = $"invalid payload length {p.Length} for {type} frame";
                return null;
        }
    }

    private static DecodeStatus Invalid(string message, out string? error)
    {
        error = message;
        return DecodeStatus.Invalid;
    }
}
