// MessageFrame.cs: the header every backend message starts with (type byte, length word), checked before anything is read or allocated.
using System.Buffers.Binary;

namespace ConMgr.Protocol.Postgres;

/// <summary>The framing shared by every backend message: one type byte, then a length word that counts itself and the body.</summary>
public static class MessageFrame
{
    /// <summary>Bytes in a header: type and length word.</summary>
    public const int HeaderLength = 5;

    /// <summary>
    /// Checks a message header: the length word counts itself, so it is at least 4, and the whole
    /// message (type byte included) must fit in <paramref name="maxMessage"/> bytes.
    /// Returns the body length, or null with <paramref name="error"/>.
    /// </summary>
    public static int? BodyLength(ReadOnlySpan<byte> header, int maxMessage, out string? error)
    {
        if (header.Length < 5)
        {
            throw new ArgumentException("a message header is 5 bytes", nameof(header));
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(header[1..]);
        if (length < 4 || length > maxMessage - 1)
        {
            error = $"invalid message length {length} for message type '{(char)header[0]}' (at most {maxMessage - 1})";
            return null;
        }

        error = null;
        return length - 4;
    }
}
