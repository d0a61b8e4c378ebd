// WireMessages.cs: reads whole backend messages off phase one's socket; the decoding itself is ConMgr.Protocol's.
using System.Net.Sockets;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Client.Resolve;

/// <summary>A backend message: type byte and body.</summary>
internal sealed record WireMessage(char Type, byte[] Body)
{
    /// <summary>Largest length word phase one accepts (64 KiB); conmgr's answers are a few hundred bytes.</summary>
    public const int MaxLength = 64 * 1024;

    /// <summary>Name and value; a body that is not exactly two NUL-terminated strings is <see cref="InvalidDataException"/>.</summary>
    public (string Name, string Value) AsParameterStatus() =>
        ParameterStatus.TryParse(Body) is { } status ? (status.Name, status.Value) : throw new InvalidDataException("malformed ParameterStatus message");

    /// <summary>The fields of an ErrorResponse, by field code ('C' SQLSTATE, 'M' message, 'D' detail).</summary>
    public IReadOnlyDictionary<char, string> AsErrorFields() => ErrorResponse.FieldsOf(Body);
}

/// <summary>The I/O half of phase one's messages: framing checked by <see cref="MessageFrame"/> before the body is allocated.</summary>
internal static class WireMessages
{
    /// <summary>Reads one message; null on a clean close before its first byte.</summary>
    public static async Task<WireMessage?> ReadAsync(Socket socket, CancellationToken cancellationToken)
    {
        var header = new byte[MessageFrame.HeaderLength];
        if (!await ReadExactlyAsync(socket, header, cancellationToken))
        {
            return null;
        }

        var length = MessageFrame.BodyLength(header, WireMessage.MaxLength + 1, out var error) ?? throw new InvalidDataException(error);
        var body = new byte[length];
        return await ReadExactlyAsync(socket, body, cancellationToken) ? new WireMessage((char)header[0], body) : throw new EndOfStreamException("connection closed in the middle of a message");
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return filled == 0 && buffer.Length > 0 ? false : throw new EndOfStreamException("connection closed in the middle of a message");
            }

            filled += read;
        }

        return true;
    }
}
