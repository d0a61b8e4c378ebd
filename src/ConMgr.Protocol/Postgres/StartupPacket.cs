// StartupPacket.cs: the first packet a client sends, as one type with one variant per request.
namespace ConMgr.Protocol.Postgres;

/// <summary>
/// The untyped packet that opens every PostgreSQL connection. Its variants are the four requests
/// a postmaster accepts there: SSL, GSS encryption, cancel, or a real startup message.
/// </summary>
public abstract record StartupPacket
{
    private protected StartupPacket()
    {
    }
}

/// <summary>SSLRequest: the client asks whether the server will negotiate TLS.</summary>
public sealed record SslRequest : StartupPacket
{
    public static SslRequest Instance { get; } = new();

    /// <summary>The packet as a client sends it (length word 8, the SSLRequest code).</summary>
    public static byte[] ToArray()
    {
        var packet = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), StartupCodes.SslRequest);
        return packet;
    }
}

/// <summary>GSSENCRequest: the client asks whether the server will negotiate GSSAPI encryption.</summary>
public sealed record GssEncRequest : StartupPacket
{
    public static GssEncRequest Instance { get; } = new();
}

/// <summary>
/// CancelRequest: cancel the query running on the backend with this key. The secret is 4 bytes in
/// protocol 3.0 and up to <see cref="StartupCodes.MaxCancelKeyLength"/> bytes from protocol 3.2 on.
/// </summary>
public sealed record CancelRequest(int ProcessId, byte[] SecretKey) : StartupPacket
{
    /// <summary>The packet as a client sends it (length word, cancel code, process id, secret).</summary>
    public byte[] ToArray()
    {
        var packet = new byte[12 + SecretKey.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), StartupCodes.CancelRequest);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(8), ProcessId);
        SecretKey.CopyTo(packet, 12);
        return packet;
    }
}

/// <summary>StartupMessage: protocol version and the name/value parameters (user, database, ...).</summary>
public sealed record StartupMessage(int ProtocolVersion, IReadOnlyDictionary<string, string> Parameters) : StartupPacket
{
    public int MajorVersion => ProtocolVersion >> 16;

    public int MinorVersion => ProtocolVersion & 0xFFFF;

    public string? GetParameter(string name) => Parameters.TryGetValue(name, out var value) ? value : null;

    /// <summary>The packet as a client sends it: length word, protocol version, name/value pairs, terminator.</summary>
    public byte[] ToArray()
    {
        var length = 4 + 4 + 1 + Parameters.Sum(p => System.Text.Encoding.UTF8.GetByteCount(p.Key) + 1 + System.Text.Encoding.UTF8.GetByteCount(p.Value) + 1);
        var packet = new byte[length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet, length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), ProtocolVersion);
        var position = 8;
        foreach (var (name, value) in Parameters)
        {
            position += System.Text.Encoding.UTF8.GetBytes(name, packet.AsSpan(position)) + 1;
            position += System.Text.Encoding.UTF8.GetBytes(value, packet.AsSpan(position)) + 1;
        }

        return packet;
    }
}
