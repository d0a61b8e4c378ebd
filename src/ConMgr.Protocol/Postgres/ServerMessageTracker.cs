// ServerMessageTracker.cs: follows a server-to-client byte stream message by message, without buffering it, and swaps the cancel key.
using System.Buffers.Binary;

namespace ConMgr.Protocol.Postgres;

/// <summary>
/// What a proxy must know of the bytes a PostgreSQL server sends, learned as they pass, on any
/// segmentation and without holding them: where each message ends (so an ErrorResponse of our own
/// can be put between two messages, never inside one), whether the first ReadyForQuery has been
/// seen (the startup phase is over), and the BackendKeyData: its key is replaced in place, as it
/// flows, by one the proxy made up, and the server's key is kept for forwarding a cancel.
/// <para>
/// Limits: a message length word below 4 (negative included) is invalid (no arithmetic is done
/// on it beyond subtracting 4); a BackendKeyData must carry a 4 to 256-byte secret. Nothing is
/// allocated from a length read off the wire except the key buffer, whose size was checked first.
/// </para>
/// </summary>
public sealed class ServerMessageTracker
{
    private const int HeaderLength = 5;
    private const int KeyDataMinLength = 8 + StartupCodes.MinCancelKeyLength;
    private const int KeyDataMaxLength = 8 + StartupCodes.MaxCancelKeyLength;

    private readonly Func<int, BackendKeyData> _clientKeyFactory;
    private ulong _header;
    private int _headerFilled;
    private long _remaining;

    // The BackendKeyData being rewritten: the server's bytes (process id, secret) and ours, same length.
    private byte[]? _serverKey;
    private byte[]? _clientKey;
    private int _keyOffset = -1;

    /// <param name="clientKeyFactory">Given the server's secret length, the key the client is to see instead (same secret length).</param>
    public ServerMessageTracker(Func<int, BackendKeyData> clientKeyFactory)
    {
        _clientKeyFactory = clientKeyFactory ?? throw new ArgumentNullException(nameof(clientKeyFactory));
    }

    /// <summary>True when every byte seen so far belongs to a complete message.</summary>
    public bool AtBoundary => _headerFilled == 0 && _remaining == 0;

    /// <summary>The first ReadyForQuery has been seen: the connection is established (its body may still be passing).</summary>
    public bool Established { get; private set; }

    /// <summary>The server's BackendKeyData, once it has passed whole; null before (or if the server sent none).</summary>
    public BackendKeyData? ServerKey { get; private set; }

    /// <summary>The key the client was given instead of <see cref="ServerKey"/>.</summary>
    public BackendKeyData? ClientKey { get; private set; }

    /// <summary>Follows <paramref name="chunk"/>, the next bytes from the server, rewriting a BackendKeyData in place; false with <paramref name="error"/> on an invalid message.</summary>
    public bool Advance(Span<byte> chunk, out string? error)
    {
        error = null;
        while (!chunk.IsEmpty)
        {
            if (_remaining > 0)
            {
                var take = (int)Math.Min(_remaining, chunk.Length);
                if (_keyOffset >= 0)
                {
                    SwapKeyBytes(chunk[..take]);
                }

                _remaining -= take;
                chunk = chunk[take..];
                continue;
            }

            while (_headerFilled < HeaderLength && !chunk.IsEmpty)
            {
                _header = (_header << 8) | chunk[0];
                _headerFilled++;
                chunk = chunk[1..];
            }

            if (_headerFilled < HeaderLength)
            {
                break;
            }

            var type = (byte)(_header >> 32);
            var length = unchecked((int)(uint)_header);
            _header = 0;
            _headerFilled = 0;
            if (length < 4)
            {
                error = $"invalid message length {length} from the server (message type 0x{type:X2})";
                return false;
            }

            _remaining = length - 4;
            if (Established)
            {
                continue;
            }

            if (type == (byte)BackendMessageCode.ReadyForQuery)
            {
                Established = true;
            }
            else if (type == (byte)BackendMessageCode.BackendKeyData && !StartKey(length, out error))
            {
                return false;
            }
        }

        return true;
    }

    private bool StartKey(int length, out string? error)
    {
        error = null;
        if (length < KeyDataMinLength || length > KeyDataMaxLength || _serverKey is not null)
        {
            error = _serverKey is not null ? "the server sent a second BackendKeyData" : $"invalid BackendKeyData length {length} from the server";
            return false;
        }

        var secretLength = length - 8;
        var client = _clientKeyFactory(secretLength);
        if (client.SecretKey.Length != secretLength)
        {
            throw new InvalidOperationException("the client key must have the server secret's length");
        }

        ClientKey = client;
        _serverKey = new byte[length - 4];
        _clientKey = client.ToBody();
        _keyOffset = 0;
        return true;
    }

    /// <summary>Keeps the server's key bytes and puts the client's in their place.</summary>
    private void SwapKeyBytes(Span<byte> bytes)
    {
        bytes.CopyTo(_serverKey.AsSpan(_keyOffset));
        _clientKey.AsSpan(_keyOffset, bytes.Length).CopyTo(bytes);
        _keyOffset += bytes.Length;
        if (_keyOffset == _serverKey!.Length)
        {
            ServerKey = BackendKeyData.FromBody(_serverKey);
            _keyOffset = -1;
            _clientKey = null;
        }
    }
}

/// <summary>BackendKeyData ('K'): the process id and secret a client quotes in a CancelRequest.</summary>
public sealed record BackendKeyData(int ProcessId, byte[] SecretKey)
{
    /// <summary>The message body: process id, then the secret.</summary>
    public byte[] ToBody()
    {
        var body = new byte[4 + SecretKey.Length];
        BinaryPrimitives.WriteInt32BigEndian(body, ProcessId);
        SecretKey.CopyTo(body, 4);
        return body;
    }

    /// <summary>Reads a body whose length the caller has checked (at least 4 bytes).</summary>
    public static BackendKeyData FromBody(ReadOnlySpan<byte> body) =>
        new(BinaryPrimitives.ReadInt32BigEndian(body), body[4..].ToArray());
}
