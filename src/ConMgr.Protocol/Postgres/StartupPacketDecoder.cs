// StartupPacketDecoder.cs: turns the bytes of a startup-phase packet into a StartupPacket, or says why not.
using System.Buffers;
using System.Buffers.Binary;

namespace ConMgr.Protocol.Postgres;

/// <summary>
/// Decodes startup-phase packets (length word, then code or protocol version, then body).
/// Works on any segmentation of the input: a packet split into 1-byte segments decodes the same.
/// </summary>
public static class StartupPacketDecoder
{
    private const int HeaderLength = 8;

    public static DecodeStatus TryDecode(
        ReadOnlySequence<byte> buffer,
        out StartupPacket? packet,
        out long consumed,
        out string? error)
    {
        packet = null;
        consumed = 0;
        error = null;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int length))
        {
            return DecodeStatus.NeedMoreData;
        }

        if (length < HeaderLength || length > StartupCodes.MaxStartupPacketLength)
        {
            error = "invalid length of startup packet";
            return DecodeStatus.Invalid;
        }

        if (buffer.Length < length)
        {
            return DecodeStatus.NeedMoreData;
        }

        // The body's size is bounded by the check above; small bodies stay on the stack.
        var body = buffer.Slice(4, length - 4);
        Span<byte> copy = length <= 512 ? stackalloc byte[512] : new byte[length];
        copy = copy[..(length - 4)];
        body.CopyTo(copy);
        var status = Decode(copy, out packet, out error);
        consumed = status == DecodeStatus.Complete ? length : 0;
        return status;
    }

    private static DecodeStatus Decode(ReadOnlySpan<byte> body, out StartupPacket? packet, out string? error)
    {
        packet = null;
        error = null;
        var code = BinaryPrimitives.ReadInt32BigEndian(body);
        var rest = body[4..];
        switch (code)
        {
            case StartupCodes.SslRequest:
                return Single(rest, SslRequest.Instance, "invalid length of SSL request packet", out packet, out error);
            case StartupCodes.GssEncRequest:
                return Single(rest, GssEncRequest.Instance, "invalid length of GSSENC request packet", out packet, out error);
            case StartupCodes.CancelRequest:
                // Protocol 3.0: a 4-byte secret; 3.2: up to 256 bytes, the packet's length says how many.
                if (rest.Length < 4 + StartupCodes.MinCancelKeyLength || rest.Length > 4 + StartupCodes.MaxCancelKeyLength)
                {
                    return Fail("invalid length of cancel request packet", out error);
                }

                packet = new CancelRequest(BinaryPrimitives.ReadInt32BigEndian(rest), rest[4..].ToArray());
                return DecodeStatus.Complete;
        }

        if (code >> 16 != 3)
        {
            return Fail($"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: server supports 3.0 to 3.0", out error);
        }

        return DecodeParameters(code, rest, out packet, out error);
    }

    private static DecodeStatus DecodeParameters(int version, ReadOnlySpan<byte> rest, out StartupPacket? packet, out string? error)
    {
        packet = null;
        var pairs = new List<StartupParameter>();
        while (true)
        {
            var nameEnd = rest.IndexOf((byte)0);
            if (nameEnd < 0)
            {
                return Fail("invalid startup packet layout: expected terminator as last byte", out error);
            }

            if (nameEnd == 0)
            {
                if (rest.Length != 1)
                {
                    return Fail("invalid startup packet layout: expected terminator as last byte", out error);
                }

                break;
            }

            var name = rest[..nameEnd].ToArray();
            rest = rest[(nameEnd + 1)..];
            var valueEnd = rest.IndexOf((byte)0);
            if (valueEnd < 0)
            {
                return Fail("invalid startup packet layout: expected terminator as last byte", out error);
            }

            pairs.Add(new StartupParameter(name, rest[..valueEnd].ToArray()));
            rest = rest[(valueEnd + 1)..];
        }

        error = null;
        packet = new StartupMessage(version, pairs);
        return DecodeStatus.Complete;
    }

    /// <summary>A request that is only its code: anything after the code is a length error.</summary>
    private static DecodeStatus Single(ReadOnlySpan<byte> rest, StartupPacket request, string lengthError, out StartupPacket? packet, out string? error)
    {
        packet = rest.IsEmpty ? request : null;
        return rest.IsEmpty ? Ok(out error) : Fail(lengthError, out error);
    }

    private static DecodeStatus Ok(out string? error)
    {
        error = null;
        return DecodeStatus.Complete;
    }

    private static DecodeStatus Fail(string message, out string? error)
    {
        error = message;
        return DecodeStatus.Invalid;
    }
}
