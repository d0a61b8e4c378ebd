// ErrorResponse.cs: the ErrorResponse ('E') backend message and its encoder.
using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ConMgr.Protocol.Postgres;

/// <summary>
/// An ErrorResponse as a postmaster would send it. Severity is the non-localised one
/// (field 'V') and the localised one (field 'S'); both are the same English word here.
/// </summary>
public sealed record ErrorResponse(string Severity, string SqlState, string Message, string? Detail = null, string? Hint = null)
{
    /// <summary>Appends the encoded message (type byte, length, fields, terminator) to <paramref name="writer"/>.</summary>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var length = 4 + FieldLength(Severity) * 2 + FieldLength(SqlState) + FieldLength(Message)
            + FieldLength(Detail) + FieldLength(Hint) + 1;
        var span = writer.GetSpan(1 + length);
        span[0] = (byte)BackendMessageCode.ErrorResponse;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], length);
        var position = 5;
        position += WriteField(span[position..], (byte)'S', Severity);
        position += WriteField(span[position..], (byte)'V', Severity);
        position += WriteField(span[position..], (byte)'C', SqlState);
        position += WriteField(span[position..], (byte)'M', Message);
        position += WriteField(span[position..], (byte)'D', Detail);
        position += WriteField(span[position..], (byte)'H', Hint);
        span[position++] = 0;
        writer.Advance(position);
    }

    /// <summary>The encoded message as a new array.</summary>
    public byte[] ToArray()
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// One field (<paramref name="code"/>: 'M' message, 'C' SQLSTATE, ...) of a whole ErrorResponse
    /// or NoticeResponse as a server sent it; null when absent or when the message is malformed.
    /// </summary>
    public static string? FieldOf(ReadOnlySpan<byte> message, byte code)
    {
        if (message.Length < 6)
        {
            return null;
        }

        var fields = message[5..];
        while (!fields.IsEmpty && fields[0] != 0)
        {
            var end = fields[1..].IndexOf((byte)0);
            if (end < 0)
            {
                return null;
            }

            if (fields[0] == code)
            {
                return Encoding.UTF8.GetString(fields.Slice(1, end));
            }

            fields = fields[(end + 2)..];
        }

        return null;
    }

    /// <summary>
    /// Every field of an ErrorResponse or NoticeResponse body, by code ('C' SQLSTATE, 'M' message,
    /// 'D' detail); a field without its terminator ends the list. A code sent twice keeps the last.
    /// </summary>
    public static IReadOnlyDictionary<char, string> FieldsOf(ReadOnlySpan<byte> body)
    {
        var fields = new Dictionary<char, string>();
        while (!body.IsEmpty && body[0] != 0)
        {
            var end = body[1..].IndexOf((byte)0);
            if (end < 0)
            {
                break;
            }

            fields[(char)body[0]] = Encoding.UTF8.GetString(body.Slice(1, end));
            body = body[(end + 2)..];
        }

        return fields;
    }

    private static int FieldLength(string? value) => value is null ? 0 : 1 + Encoding.UTF8.GetByteCount(value) + 1;

    private static int WriteField(Span<byte> destination, byte code, string? value)
    {
        if (value is null)
        {
            return 0;
        }

        destination[0] = code;
        var written = Encoding.UTF8.GetBytes(value, destination[1..]);
        destination[1 + written] = 0;
        return written + 2;
    }
}
