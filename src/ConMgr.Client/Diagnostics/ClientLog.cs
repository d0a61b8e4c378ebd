// ClientLog.cs: every log line the client library writes, source-generated, each with its own event id.
using Microsoft.Extensions.Logging;

namespace ConMgr.Client.Diagnostics;

/// <summary>
/// The library logs through the <see cref="ILoggerFactory"/> given to the builder (or found in
/// dependency injection), category <c>ConMgr.Client</c>. Event ids are stable: filter on them.
/// Routine steps of an open are Debug; a loss report is a Warning because connections failed.
/// </summary>
internal static partial class ClientLog
{
    public const string Category = "ConMgr.Client";

    [LoggerMessage(1, LogLevel.Debug, "conmgr at {ConMgr} sent target {Target} to instance {Number} ({Instance}), one of {Candidates} eligible")]
    public static partial void Resolved(ILogger logger, string conMgr, string target, int number, string instance, int? candidates);

    [LoggerMessage(2, LogLevel.Debug, "conmgr at {ConMgr} has no instance for target {Target}: {SqlState} {Message}")]
    public static partial void Refused(ILogger logger, string conMgr, string target, string sqlState, string message);

    [LoggerMessage(3, LogLevel.Debug, "host list entry {Entry} could not be asked: {Reason}")]
    public static partial void Unreachable(ILogger logger, string entry, string reason);

    [LoggerMessage(4, LogLevel.Debug, "host list entry {Entry} is a PostgreSQL server: connecting to it directly")]
    public static partial void Postmaster(ILogger logger, string entry);

    [LoggerMessage(5, LogLevel.Debug, "forecast for conmgr at {ConMgr}: instance {Instance}, the only candidate; the next new connection opens beside phase one")]
    public static partial void ForecastSet(ILogger logger, string conMgr, string instance);

    [LoggerMessage(6, LogLevel.Debug, "forecast for conmgr at {ConMgr} cleared: {Why}")]
    public static partial void ForecastCleared(ILogger logger, string conMgr, string why);

    [LoggerMessage(7, LogLevel.Debug, "opening a connection to {Instance} beside phase one, on the forecast")]
    public static partial void EarlyOpenStarted(ILogger logger, string instance);

    [LoggerMessage(8, LogLevel.Debug, "early open to {Instance} abandoned: {Why}")]
    public static partial void EarlyOpenAbandoned(ILogger logger, string instance, string why);

    [LoggerMessage(9, LogLevel.Warning, "conmgr reported instance {Instance} lost for target {Target}: {Reason}; its {Connections} physical connections were broken or evicted")]
    public static partial void InstanceLost(ILogger logger, string instance, string target, string reason, int connections);

    [LoggerMessage(10, LogLevel.Information, "conmgr at {ConMgr} did not confirm instance {Instance} for target {Target} on a new physical connection: {Reason}")]
    public static partial void PinRefused(ILogger logger, string conMgr, string instance, string target, string reason);

    [LoggerMessage(11, LogLevel.Error, "Npgsql {Version} hides the socket of its connections: a command in flight when conmgr reports its instance lost cannot be failed at once, and ends only when the server or TCP ends it (docs/client.md)")]
    public static partial void BreakerUnsupported(ILogger logger, string version);

    [LoggerMessage(12, LogLevel.Warning, "no host list entry could serve target {Target}: {Failures}")]
    public static partial void NoHost(ILogger logger, string target, string failures);

    [LoggerMessage(13, LogLevel.Debug, "new physical connection to {Instance} (backend pid {Pid}) watched through conmgr at {ConMgr}")]
    public static partial void LeaseAttached(ILogger logger, string instance, int pid, string conMgr);

    [LoggerMessage(14, LogLevel.Debug, "idle connection to {Instance} handed out without asking conmgr")]
    public static partial void PooledOpen(ILogger logger, string instance);
}
