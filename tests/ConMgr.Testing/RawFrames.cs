// RawFrames.cs: heartbeat frames written byte by byte, independent of the codec under test (docs/protocol.md's layout).
using System.Buffers.Binary;
using System.Text;

namespace ConMgr.Testing;

/// <summary>The test's own encoder of heartbeat frames: type byte, int32 length (itself + payload), payload.</summary>
public static class RawFrames
{
    /// <summary>The protocol's largest frame (docs/protocol.md).</summary>
    public const int MaxFrameLength = 1024;

    /// <summary>A Hello of protocol 1.<paramref name="minor"/> (1.1 by default: no shared-secret handshake).</summary>
    public static byte[] Hello(int intervalMs, int timeoutMs, long conmgrId, short minor = 1)
    {
        var payload = new byte[24];
        BinaryPrimitives.WriteInt32BigEndian(payload, 0x434D4842);
        BinaryPrimitives.WriteInt16BigEndian(payload.AsSpan(4), 1);
        BinaryPrimitives.WriteInt16BigEndian(payload.AsSpan(6), minor);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(8), intervalMs);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(12), timeoutMs);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(16), conmgrId);
        return Frame('H', payload);
    }

    public static byte[] Welcome() => Frame('W', [0, 1, 0, 1]);

    public static byte[] Beat(long sentUs)
    {
        var payload = new byte[24];
        BinaryPrimitives.WriteInt64BigEndian(payload, sentUs);
        return Frame('B', payload);
    }

    /// <summary>Attributes of an available primary on <paramref name="timeline"/> with <paramref name="systemIdentifier"/>.</summary>
    public static byte[] PrimaryAttributes(int timeline, long systemIdentifier)
    {
        var payload = new byte[37];
        payload[0] = 1;
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(1), timeline);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(5), systemIdentifier);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(21), -1);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(29), 150000);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(33), 1);
        return Frame('A', payload);
    }

    public static byte[] Goodbye(string reason) => Frame('G', Encoding.UTF8.GetBytes(reason));

    public static byte[] Frame(char type, byte[] payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var frame = new byte[5 + payload.Length];
        frame[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length + 4);
        payload.CopyTo(frame, 5);
        return frame;
    }
}
