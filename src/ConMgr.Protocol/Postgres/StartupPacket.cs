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
}

/// <summary>GSSENCRequest: the client asks whether the server will negotiate GSSAPI encryption.</summary>
public sealed record GssEncRequest : StartupPacket
{
    public static GssEncRequest Instance { get; } = new();
}

/// <summary>CancelRequest: cancel the query running on the backend with this key.</summary>
public sealed record CancelRequest(int ProcessId, int SecretKey) : StartupPacket;

/// <summary>StartupMessage: protocol version and the name/value parameters (user, database, ...).</summary>
public sealed record StartupMessage(int ProtocolVersion, IReadOnlyDictionary<string, string> Parameters) : StartupPacket
{
    public int MajorVersion => ProtocolVersion >> 16;

    public int MinorVersion => ProtocolVersion & 0xFFFF;

    public string? GetParameter(string name) => Parameters.TryGetValue(name, out var value) ? value : null;
}
