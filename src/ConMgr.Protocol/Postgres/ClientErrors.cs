// ClientErrors.cs: named constructors for every ErrorResponse ConMgr sends to a client.
namespace ConMgr.Protocol.Postgres;

/// <summary>
/// Every error ConMgr reports to a PostgreSQL client is built here, so the wording, severity and
/// SQLSTATE of each situation are decided in one place and documented in docs/protocol.md.
/// </summary>
public static class ClientErrors
{
    private const string Fatal = "FATAL";

    /// <summary>The client sent bytes that are not a valid startup packet (an unknown protocol version: 0A000, as the postmaster says it).</summary>
    public static ErrorResponse InvalidStartupPacket(string reason, bool unsupportedProtocol = false) =>
        new(Fatal, unsupportedProtocol ? SqlState.FeatureNotSupported : SqlState.ProtocolViolation, reason);

    /// <summary>An ordinary startup message (psql, JDBC) on the resolve port.</summary>
    public static ErrorResponse NotAResolveRequest() => new(
        Fatal,
        SqlState.FeatureNotSupported,
        "this is conmgr's resolve port, not a PostgreSQL server",
        Hint: "Connect with a conmgr-aware client (two-phase connection), or to conmgr's read_write_port / read_only_port.");

    /// <summary>The resolve request named a target_session_attrs value that does not exist.</summary>
    public static ErrorResponse InvalidTarget(string value, string valid) =>
        new(Fatal, SqlState.InvalidParameterValue, $"invalid value for parameter \"target_session_attrs\": \"{value}\"", Hint: $"Valid values are: {valid}.");

    /// <summary>A pinned resolve request whose instance option is not a number.</summary>
    public static ErrorResponse InvalidInstanceNumber(string value) =>
        new(Fatal, SqlState.InvalidParameterValue, $"invalid value for parameter \"{ResolveProtocol.InstanceOption}\": \"{value}\"", Hint: "The value is an instance number, as in backend_hostN.");

    /// <summary>No instance with a live heartbeat matches the request.</summary>
    public static ErrorResponse NoEligibleInstance(string explanation) =>
        new(Fatal, SqlState.SqlClientUnableToEstablishSqlConnection, explanation);

    /// <summary>The instance a client was sent to lost its heartbeat: its SQL connection must be considered dead.</summary>
    public static ErrorResponse InstanceLost(string instance, string reason) =>
        new(Fatal, SqlState.AdminShutdown, $"terminating connection: conmgr lost the heartbeat of {instance}", Detail: reason);

    /// <summary>The instance no longer has the role the client asked for (a primary demoted, a standby promoted); <paramref name="requirement"/> says who asked ("target_session_attrs=read-write", "conmgr's read-write port").</summary>
    public static ErrorResponse RoleChanged(string instance, string requirement, string now) =>
        new(Fatal, SqlState.AdminShutdown, $"terminating connection: {instance} no longer matches {requirement}", Detail: $"It is now {now}.");

    /// <summary>A proxy port found no instance to send the client to.</summary>
    public static ErrorResponse NoInstanceForPort(string port, int number, string explanation) =>
        new(Fatal, SqlState.SqlClientUnableToEstablishSqlConnection, $"conmgr's {port} port ({number}) cannot route this connection: {explanation}");

    /// <summary>The chosen instances could not be connected to.</summary>
    public static ErrorResponse BackendUnreachable(string port, string reasons) =>
        new(Fatal, SqlState.SqlClientUnableToEstablishSqlConnection, $"conmgr's {port} port could not connect to any eligible instance", Detail: reasons);

    /// <summary>
    /// No line of conmgr_hba.conf matches (preauth = on): the server's own words (auth.c,
    /// ClientAuthentication), host "[local]" on a Unix socket.
    /// </summary>
    public static ErrorResponse NoHbaEntry(string host, string user, string database, bool ssl) =>
        new(Fatal, SqlState.InvalidAuthorizationSpecification, $"no pg_hba.conf entry for host \"{host}\", user \"{user}\", database \"{database}\", {(ssl ? "SSL encryption" : "no encryption")}");

    /// <summary>The first matching line of conmgr_hba.conf says reject.</summary>
    public static ErrorResponse HbaRejects(string host, string user, string database, bool ssl) =>
        new(Fatal, SqlState.InvalidAuthorizationSpecification, $"pg_hba.conf rejects connection for host \"{host}\", user \"{user}\", database \"{database}\", {(ssl ? "SSL encryption" : "no encryption")}");

    /// <summary>A proxy port already serves its read_write_/read_only_max_client_connections clients (the server's words for max_connections, postinit.c, with the port and the limit).</summary>
    public static ErrorResponse TooManyClientsForPort(string port, string parameter, int limit) =>
        new(Fatal, SqlState.TooManyConnections, $"sorry, too many clients already for conmgr's {port} port", Detail: $"{parameter} = {limit}");

    /// <summary>A pooled client waited pool_wait_timeout for a server connection (PgBouncer's query_wait_timeout, with PGD's SQLSTATE for a full pool).</summary>
    public static ErrorResponse PoolWaitTimeout(string port, string instance, string waited) =>
        new(Fatal, SqlState.TooManyConnections, $"no server connection of conmgr's {port} port to {instance} came free within pool_wait_timeout ({waited})", Hint: "raise the port's max_server_connections, or pool_wait_timeout");

    /// <summary>A pooled client sat idle inside a transaction for idle_transaction_timeout (the server's words for idle_in_transaction_session_timeout).</summary>
    public static ErrorResponse IdleTransactionTimeout() =>
        new(Fatal, SqlState.IdleInTransactionSessionTimeout, "terminating connection due to idle-in-transaction timeout", Detail: "conmgr's idle_transaction_timeout ended the session");

    /// <summary>A pooled client sent bytes that are not a frontend message.</summary>
    public static ErrorResponse InvalidFrontendMessage(string reason) =>
        new(Fatal, SqlState.ProtocolViolation, $"invalid frontend message: {reason}");

    /// <summary>A replication connection (physical or logical) on a proxy port.</summary>
    public static ErrorResponse ReplicationRefused(string port) => new(
        Fatal,
        SqlState.FeatureNotSupported,
        $"replication connections are not supported on conmgr's {port} port",
        Hint: "Connect a replication client to the instance itself.");

    /// <summary>The client took too long to send its startup packet.</summary>
    public static ErrorResponse StartupTimeout() =>
        new(Fatal, SqlState.ProtocolViolation, "timeout expired while waiting for the startup packet");

    /// <summary>conmgr is shutting down (cm_ctl stop -m fast).</summary>
    public static ErrorResponse AdminShutdown() =>
        new(Fatal, SqlState.AdminShutdown, "terminating connection due to administrator command");

    /// <summary>
    /// The client chose SCRAM-SHA-256-PLUS while its TLS ends at conmgr and conmgr's TLS to the
    /// server presents another certificate: the binding it computed (conmgr's certificate) cannot
    /// match the server's, which would refuse it with "SCRAM channel binding check failed". 28000,
    /// as the server says it.
    /// </summary>
    public static ErrorResponse ChannelBindingThroughProxy(string instance) => new(
        Fatal,
        SqlState.InvalidAuthorizationSpecification,
        "SCRAM channel binding cannot pass through conmgr",
        Detail: $"The client's TLS connection ends at conmgr, and conmgr's TLS connection to {instance} presents a different certificate, so the server could not verify the binding.",
        Hint: "Connect with channel_binding=disable (Npgsql: Channel Binding=Disable); or give conmgr the server's certificate and key (ssl_cert_file, ssl_key_file), which lets channel binding through; or set backend_sslmode = disable.");

    /// <summary>
    /// preauth: a wrong password or proof, and equally an unknown role, a role with no usable or an
    /// expired password, or one the watchdog will not hand out (the exchange was a mock): the
    /// server's words for every password method (auth.c, auth_failed), so nothing tells them apart.
    /// </summary>
    public static ErrorResponse PasswordAuthenticationFailed(string user) =>
        new(Fatal, SqlState.InvalidPassword, $"password authentication failed for user \"{user}\"");

    /// <summary>preauth: a clientcert= or cert line, and the client presented no certificate (the server's words, auth.c).</summary>
    public static ErrorResponse ClientCertificateRequired() =>
        new(Fatal, SqlState.InvalidAuthorizationSpecification, "connection requires a valid client certificate");

    /// <summary>preauth: a cert line whose certificate's name (or its map=) does not give the user (the server's words).</summary>
    public static ErrorResponse CertificateAuthenticationFailed(string user) =>
        new(Fatal, SqlState.InvalidAuthorizationSpecification, $"certificate authentication failed for user \"{user}\"");

    /// <summary>preauth: the password was right and the role is NOLOGIN (the server's words, miscinit.c).</summary>
    public static ErrorResponse RoleCannotLogIn(string user) =>
        new(Fatal, SqlState.InvalidAuthorizationSpecification, $"role \"{user}\" is not permitted to log in");

    /// <summary>preauth: a SCRAM exchange the client broke (the server's SQLSTATE, message and detail, auth-scram.c).</summary>
    public static ErrorResponse Scram(string sqlState, string message, string? detail) =>
        new(Fatal, sqlState, message, Detail: detail);

    /// <summary>preauth: a client message that is not what the exchange expects (PostgreSQL: "expected SASL response, got message type %d").</summary>
    public static ErrorResponse UnexpectedAuthenticationMessage(string expected, byte type) =>
        new(Fatal, SqlState.ProtocolViolation, $"expected {expected} response, got message type {type}");

    /// <summary>preauth: the routed instance's watchdog gave no answer to the secret lookup (link down, too old, too slow).</summary>
    public static ErrorResponse LookupFailed(string instance, string reason) =>
        new(Fatal, SqlState.SqlClientUnableToEstablishSqlConnection, $"conmgr could not authenticate this connection: no answer from the watchdog of {instance}", Detail: reason);

    /// <summary>preauth: the server asked conmgr for a method conmgr cannot answer with what the client proved (conmgr's log says which).</summary>
    public static ErrorResponse ServerLoginImpossible(string instance, string why) =>
        new(Fatal, SqlState.InvalidAuthorizationSpecification, $"conmgr cannot log in to {instance} for this user", Detail: why, Hint: "The server's pg_hba.conf must use scram-sha-256 (or md5 with md5 secrets) for conmgr's address when preauth = on (docs/preauth.md).");

    /// <summary>preauth: the client went away (<paramref name="why"/> null: it closed) during its authentication; a reason for the log more than a message it will read.</summary>
    public static ErrorResponse ConnectionLostDuringAuthentication(string? why) =>
        new(Fatal, SqlState.ProtocolViolation, why is null ? "the client closed the connection during authentication" : $"connection lost during authentication: {why}");

    /// <summary>preauth: the lookup and the client's exchange together took longer than authentication_timeout (the server's words, postinit.c).</summary>
    public static ErrorResponse AuthenticationTimeout() =>
        new(Fatal, SqlState.QueryCanceled, "canceling authentication due to timeout");

    /// <summary>A server's own ErrorResponse (its fields as sent), relayed through one close path.</summary>
    public static ErrorResponse FromServer(IReadOnlyDictionary<char, string> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        string? Field(char code) => fields.TryGetValue(code, out var value) ? value : null;
        return new(Field('S') ?? Fatal, Field('C') ?? SqlState.InternalError, Field('M') ?? "(no message)", Field('D'), Field('H'));
    }

    /// <summary>A bug in conmgr while serving the connection: as PostgreSQL answers its own internal errors, XX000, and the log has the details.</summary>
    public static ErrorResponse InternalError() =>
        new(Fatal, SqlState.InternalError, "conmgr internal error while serving this connection", Hint: "conmgr's log has the details; please report it.");
}
