// ProtocolCodes.cs: the numbers of the PostgreSQL frontend/backend protocol that ConMgr speaks.
namespace ConMgr.Protocol.Postgres;

/// <summary>Type bytes of backend (server to client) messages ConMgr sends or reads.</summary>
public enum BackendMessageCode : byte
{
    AuthenticationRequest = (byte)'R',
    BackendKeyData = (byte)'K',
    ErrorResponse = (byte)'E',
    NoticeResponse = (byte)'N',
    ParameterStatus = (byte)'S',
    ReadyForQuery = (byte)'Z',
    NegotiateProtocolVersion = (byte)'v',
}

/// <summary>The 32-bit codes that open an untyped startup-phase packet.</summary>
public static class StartupCodes
{
    /// <summary>Protocol 3.0: major 3 in the high 16 bits, minor 0 in the low 16 bits.</summary>
    public const int ProtocolVersion3 = 3 << 16;

    public const int CancelRequest = (1234 << 16) | 5678;
    public const int SslRequest = (1234 << 16) | 5679;
    public const int GssEncRequest = (1234 << 16) | 5680;

    /// <summary>
    /// Largest startup packet accepted, including the length word. Same bound as the
    /// postmaster's MAX_STARTUP_PACKET_LENGTH, so a client that works with PostgreSQL works here.
    /// </summary>
    public const int MaxStartupPacketLength = 10000;

    /// <summary>Shortest cancel secret accepted: protocol 3.0's 4 bytes.</summary>
    public const int MinCancelKeyLength = 4;

    /// <summary>Longest cancel secret accepted: protocol 3.2's limit (PostgreSQL's MAX_CANCEL_KEY_LENGTH).</summary>
    public const int MaxCancelKeyLength = 256;
}
