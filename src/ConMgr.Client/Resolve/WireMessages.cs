// WireMessages.cs: the few PostgreSQL protocol messages phase one needs: a startup message out, typed messages in.
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace ConMgr.Client.Resolve;

/// <summary>A backend message: type byte and body.</summary>
internal sealed record WireMessage(char Type, byte[] Body)
{
    /// <summary>Largest message phase one accepts; conmgr's answers are a few hundred bytes.</summary>
    public const int MaxLength = 64 * 1024;

    /// <summary>Name and value; a body that is not exactly two NUL-terminated strings is <see cref="InvalidDataException"/>.</summary>
    public (string Name, string Value) AsParameterStatus()
    {
        var nul = Array.IndexOf(Body, (byte)0);
        var end = nul < 0 ? -1 : Array.IndexOf(Body, (byte)0, nul + 1);
        if (end != Body.Length - 1 || end < 0)
        {
            throw new InvalidDataException("malformed ParameterStatus message");
        }

        return (Encoding.UTF8.GetString(Body, 0, nul), Encoding.UTF8.GetString(Body, nul + 1, end - nul - 1));
    }

    /// <summary>The fields of an ErrorResponse, by field code ('C' SQLSTATE, 'M' message, 'D' detail).</summary>
    public IReadOnlyDictionary<char, string> AsErrorFields()
    {
        var fields = new Dictionary<char, string>();
        var pos = 0;
        while (pos < Body.Length && Body[pos] != 0)
        {
            var end = Array.IndexOf(Body, (byte)0, pos + 1);
            if (end < 0)
            {
                break;
            }

            fields[(char)Body[pos]] = Encoding.UTF8.GetString(Body, pos + 1, end - pos - 1);
            pos = end + 1;
        }

        return fields;
    }
}

internal static class WireMessages
{
    public static byte[] StartupMessage(IEnumerable<(string Name, string Value)> parameters)
    {
        var body = new List<byte> { 0, 3, 0, 0 };
        foreach (var (name, value) in parameters)
        {
            body.AddRange(Encoding.UTF8.GetBytes(name));
            body.Add(0);
            body.AddRange(Encoding.UTF8.GetBytes(value));
            body.Add(0);
        }

        body.Add(0);
        var message = new byte[body.Count + 4];
        BinaryPrimitives.WriteInt32BigEndian(message, message.Length);
        body.CopyTo(message, 4);
        return message;
    }

    /// <summary>Reads one message; null on a clean close before its first byte.</summary>
    public static async Task<WireMessage?> ReadAsync(Socket socket, CancellationToken cancellationToken)
    {
        var header = new byte[5];
        if (!await ReadExactlyAsync(socket, header, cancellationToken))
        {
            return null;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
        if (length < 4 || length > WireMessage.MaxLength)
        {
            throw new InvalidDataException($"invalid message length {length}");
        }

        var body = new byte[length - 4];
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
