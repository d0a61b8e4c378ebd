// BackendMessages.cs: ParameterStatus and ReadyForQuery, the standard messages conmgr's resolve answer is made of, and their decoders.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ConMgr.Protocol.Postgres;

/// <summary>ParameterStatus ('S'): a name and a value, both NUL-terminated.</summary>
public sealed record ParameterStatus(string Name, string Value)
{
    /// <summary>Decodes a body; null unless it is exactly two NUL-terminated strings.</summary>
    public static ParameterStatus? TryParse(ReadOnlySpan<byte> body)
    {
        var nul = body.IndexOf((byte)0);
        if (nul < 0)
        {
            return null;
        }

        var rest = body[(nul + 1)..];
        var end = rest.IndexOf((byte)0);
        return end != rest.Length - 1 || end < 0
            ? null
            : new ParameterStatus(Encoding.UTF8.GetString(body[..nul]), Encoding.UTF8.GetString(rest[..end]));
    }

    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var nameLength = Encoding.UTF8.GetByteCount(Name);
        var valueLength = Encoding.UTF8.GetByteCount(Value);
        var length = 4 + nameLength + 1 + valueLength + 1;
        var span = writer.GetSpan(1 + length);
        span[0] = (byte)BackendMessageCode.ParameterStatus;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], length);
        Encoding.UTF8.GetBytes(Name, span[5..]);
        span[5 + nameLength] = 0;
        Encoding.UTF8.GetBytes(Value, span[(6 + nameLength)..]);
        span[6 + nameLength + valueLength] = 0;
        writer.Advance(1 + length);
    }
}

/// <summary>ReadyForQuery ('Z') with transaction status 'I' (idle).</summary>
public static class ReadyForQuery
{
    public static void WriteIdle(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var span = writer.GetSpan(6);
        span[0] = (byte)BackendMessageCode.ReadyForQuery;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], 5);
        span[5] = (byte)'I';
        writer.Advance(6);
    }
}
