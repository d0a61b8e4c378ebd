// MessageIo.cs: reads one whole protocol message from a stream, bounded before anything is allocated (the opening and authentication phases only).
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>A peer's bytes were not a message conmgr can take.</summary>
public sealed class MessageFormatException(string message) : Exception(message)
{
    public MessageFormatException()
        : this("invalid message")
    {
    }

    public MessageFormatException(string message, Exception innerException)
        : this(message + ": " + innerException?.Message)
    {
    }
}

public static class MessageIo
{
    /// <summary>
    /// Largest message conmgr reads whole while opening a session or relaying its authentication:
    /// PostgreSQL's own bound on authentication messages (PG_MAX_AUTH_TOKEN_LENGTH, 65535) plus
    /// the header. The server's ErrorResponse at startup is far smaller.
    /// </summary>
    public const int MaxMessage = 65535 + 5;

    /// <summary>The whole message (type, length, body), or null when the peer closed before its first byte.</summary>
    /// <exception cref="MessageFormatException">The length word is out of bounds, or the peer closed inside the message.</exception>
    public static async Task<byte[]?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[5];
        var first = await stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken);
        if (first == 0)
        {
            return null;
        }

        if (first < header.Length)
        {
            throw new MessageFormatException("connection closed inside a message header");
        }

        var body = MessageFrame.BodyLength(header, MaxMessage, out var error) ?? throw new MessageFormatException(error!);
        var message = new byte[5 + body];
        header.CopyTo(message, 0);
        if (await stream.ReadAtLeastAsync(message.AsMemory(5), body, throwOnEndOfStream: false, cancellationToken) < body)
        {
            throw new MessageFormatException("connection closed inside a message");
        }

        return message;
    }
}
