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

/// <summary>
/// One name/value pair of a startup message, as the client's bytes: a user or database name in
/// a server encoding other than UTF-8 (LATIN1, say) passes through conmgr to the server unchanged.
/// The text forms are for conmgr's own decisions and logs, where an invalid sequence reads as U+FFFD.
/// </summary>
public sealed record StartupParameter(ReadOnlyMemory<byte> Name, ReadOnlyMemory<byte> Value)
{
    public string NameText => System.Text.Encoding.UTF8.GetString(Name.Span);

    public string ValueText => System.Text.Encoding.UTF8.GetString(Value.Span);

    public static StartupParameter FromText(string name, string value) =>
        new(System.Text.Encoding.UTF8.GetBytes(name), System.Text.Encoding.UTF8.GetBytes(value));
}

/// <summary>
/// StartupMessage: protocol version and the name/value pairs (user, database, ...) in the order and
/// with the bytes the client sent; <see cref="ToArray"/> writes them back unchanged.
/// </summary>
public sealed record StartupMessage : StartupPacket
{
    public StartupMessage(int protocolVersion, IReadOnlyList<StartupParameter> pairs)
    {
        ProtocolVersion = protocolVersion;
        Pairs = pairs;
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            // A name given twice: the server applies both in order, so the later value is the one in force.
            parameters[pair.NameText] = pair.ValueText;
        }

        Parameters = parameters;
    }

    public StartupMessage(int protocolVersion, IReadOnlyDictionary<string, string> parameters)
        : this(protocolVersion, [.. parameters.Select(p => StartupParameter.FromText(p.Key, p.Value))])
    {
    }

    public int ProtocolVersion { get; }

    /// <summary>The pairs as sent, bytes and order kept.</summary>
    public IReadOnlyList<StartupParameter> Pairs { get; }

    /// <summary>The pairs as text (later wins), for conmgr's own options and decisions.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    public int MajorVersion => ProtocolVersion >> 16;

    public int MinorVersion => ProtocolVersion & 0xFFFF;

    public string? GetParameter(string name) => Parameters.TryGetValue(name, out var value) ? value : null;

    /// <summary>This message with <paramref name="name"/> set to <paramref name="value"/>: any pair of that name (case-insensitive) removed, the new one last.</summary>
    public StartupMessage With(string name, string value) =>
        new(ProtocolVersion, [.. Pairs.Where(p => !string.Equals(p.NameText, name, StringComparison.OrdinalIgnoreCase)), StartupParameter.FromText(name, value)]);

    /// <summary>The packet as a client sends it: length word, protocol version, name/value pairs, terminator.</summary>
    public byte[] ToArray()
    {
        var length = 4 + 4 + 1 + Pairs.Sum(p => p.Name.Length + 1 + p.Value.Length + 1);
        var packet = new byte[length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet, length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), ProtocolVersion);
        var position = 8;
        foreach (var pair in Pairs)
        {
            pair.Name.Span.CopyTo(packet.AsSpan(position));
            position += pair.Name.Length + 1;
            pair.Value.Span.CopyTo(packet.AsSpan(position));
            position += pair.Value.Length + 1;
        }

        return packet;
    }
}
