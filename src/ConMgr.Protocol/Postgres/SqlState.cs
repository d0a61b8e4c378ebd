// SqlState.cs: the SQLSTATE codes ConMgr puts in the ErrorResponses it sends.
namespace ConMgr.Protocol.Postgres;

/// <summary>SQLSTATE values (PostgreSQL Appendix A) used by ConMgr.</summary>
public static class SqlState
{
    public const string ProtocolViolation = "08P01";
    public const string SqlClientUnableToEstablishSqlConnection = "08001";
    public const string FeatureNotSupported = "0A000";
    public const string AdminShutdown = "57P01";
    public const string InvalidParameterValue = "22023";
    public const string InternalError = "XX000";
    public const string InvalidAuthorizationSpecification = "28000";
    public const string InvalidPassword = "28P01";
    public const string QueryCanceled = "57014";
    public const string TooManyConnections = "53300";
    public const string IdleInTransactionSessionTimeout = "25P03";
}
