// ClientErrors.cs: named constructors for every ErrorResponse ConMgr sends to a client.
namespace ConMgr.Protocol.Postgres;

/// <summary>
/// Every error ConMgr reports to a PostgreSQL client is built here, so the wording, severity and
/// SQLSTATE of each situation are decided in one place and documented in docs/protocol.md.
/// </summary>
public static class ClientErrors
{
    private const string Fatal = "FATAL";

    /// <summary>The client sent bytes that are not a valid startup packet.</summary>
    public static ErrorResponse InvalidStartupPacket(string reason) => new(Fatal, SqlState.ProtocolViolation, reason);

    /// <summary>A well-formed request that this port does not serve (yet).</summary>
    public static ErrorResponse RequestNotSupported(string what) =>
        new(Fatal, SqlState.FeatureNotSupported, $"conmgr does not support {what} on this port");

    /// <summary>The client took too long to send its startup packet.</summary>
    public static ErrorResponse StartupTimeout() =>
        new(Fatal, SqlState.ProtocolViolation, "timeout expired while waiting for the startup packet");

    /// <summary>conmgr is shutting down (cm_ctl stop -m fast).</summary>
    public static ErrorResponse AdminShutdown() =>
        new(Fatal, SqlState.AdminShutdown, "terminating connection due to administrator command");
}
