// Preauthenticator.cs: preauth for one proxy client: conmgr_hba.conf, the secret looked up on the routed instance, the client's exchange, then conmgr's own login to the server.
using ConMgr.Configuration;
using ConMgr.Configuration.Hba;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Heartbeat;
using ConMgr.Daemon.Proxy;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Auth;

/// <summary>What preauth decided before a server connection is opened.</summary>
/// <param name="Error">The client is refused with this (it costs no backend).</param>
/// <param name="Credentials">conmgr authenticated the client and logs in with these; null: the server authenticates it (trust, cert), as without preauth.</param>
/// <param name="Final">What the client gets after a good server login, before AuthenticationOk (SCRAM's server-final).</param>
public sealed record PreauthDecision(ErrorResponse? Error, LoginCredentials? Credentials, byte[]? Final);

/// <summary>
/// The order (docs/preauth.md): the rules first when they name no +group, so a refused client
/// costs nothing at all; then, for password methods or +group rules, one lookup on the routed
/// instance's watchdog (bounded by preauth_lookup_timeout; no answer is 08001 naming the
/// instance); then the client's exchange. The lookup and the exchange together are bounded by
/// authentication_timeout (10 s), as on the server. After a good exchange conmgr logs in to the
/// server itself (<see cref="ServerLogin"/>); a 28P01 there (the password changed since the
/// lookup) gets one more lookup and one retry when the client's credentials still hold, and
/// otherwise only this client gets the server's error.
/// </summary>
public sealed class Preauthenticator(ClientAdmission admission, IReadOnlyList<InstanceMonitor> monitors, ConMgrSettings settings, ServerLog log)
{
    /// <summary>Before routing: a refusal by rules that need no lookup, or null to go on.</summary>
    public ErrorResponse? EarlyRefusal(ApplicationConnection connection, StartupMessage startup) =>
        admission.Groups.Count == 0 ? admission.Decide(connection, startup, null).Error : null;

    /// <summary>The client's authentication against instance <paramref name="index"/> (routed).</summary>
    public async Task<PreauthDecision> AuthenticateAsync(ApplicationConnection connection, StartupMessage startup, int index, string instance)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        using var deadline = new CancellationTokenSource(ApplicationHandler.StartupTimeout);
        var groups = admission.Groups;
        var user = RoleName(startup.GetParameter("user") ?? string.Empty);
        try
        {
            AuthLookupAnswerFrame? answer = null;
            var (rule, error) = groups.Count == 0 ? admission.Decide(connection, startup, null) : (null, null);
            if (groups.Count > 0 || (rule is not null && ChecksPassword(rule)))
            {
                answer = await LookupAsync(index, user, groups, deadline.Token);
                if (groups.Count > 0)
                {
                    (rule, error) = admission.Decide(connection, startup, answer.Membership, groups);
                }
            }

            if (error is not null || rule is null)
            {
                return new(error ?? ClientErrors.InternalError(), null, null);
            }

            // clientcert= and cert: a certificate, verified by the handshake against ssl_ca_file, before anything else.
            var certificate = connection.Tls?.RemoteCertificate;
            if ((rule.ClientCert != HbaClientCert.None || rule.Method == HbaMethod.Cert) && certificate is null)
            {
                log.Log($"preauth: {connection.Describe()} user \"{user}\" ({Method(rule)} at {rule.File}:{rule.LineNumber}): no client certificate");
                return new(ClientErrors.ClientCertificateRequired(), null, null);
            }

            if (rule.Method == HbaMethod.Cert)
            {
                return CertificateNames(connection, certificate!, user, rule)
                    ? new(null, LoginCredentials.Certificate, null)
                    : new(ClientErrors.CertificateAuthenticationFailed(user), null, null);
            }

            if (!ChecksPassword(rule))
            {
                // trust: the server authenticates the client, as without preauth.
                return rule.ClientCert == HbaClientCert.VerifyFull && !CertificateNames(connection, certificate!, user, rule)
                    ? new(ClientErrors.CertificateAuthenticationFailed(user), null, null)
                    : new(null, null, null);
            }

            answer ??= await LookupAsync(index, user, groups, deadline.Token);
            Explain(connection, user, answer);
            var endPoint = connection.Tls is { } tls ? Scram.ChannelBinding.ServerEndPoint(tls.LocalCertificate) : null;
            var result = await new ClientAuthentication(connection.OpenStream(), user, connection.Tls is not null, endPoint).RunAsync(rule.Method, answer, deadline.Token);

            // clientcert=verify-full is checked after the method, and fails with the method's own message (auth.c).
            if (result.Error is null && rule.ClientCert == HbaClientCert.VerifyFull && !CertificateNames(connection, certificate!, user, rule))
            {
                result = ClientAuthResult.Failed(ClientErrors.PasswordAuthenticationFailed(user));
            }

            if (result.Error is { } refused)
            {
                log.Log($"preauth: {connection.Describe()} user \"{user}\" ({Method(rule)} at {rule.File}:{rule.LineNumber}): {refused.Message}");
            }

            return new(result.Error, result.Credentials, result.Final);
        }
        catch (AuthLookupException ex)
        {
            log.Log($"preauth: no secret for {connection.Describe()} user \"{user}\" from {instance}: {ex.Message}");
            return new(ClientErrors.LookupFailed(instance, ex.Message), null, null);
        }
        catch (OperationCanceledException)
        {
            return new(ClientErrors.AuthenticationTimeout(), null, null);
        }
        catch (IOException ex)
        {
            return new(ClientErrors.ConnectionLostDuringAuthentication(ex.Message), null, null);
        }
    }

    /// <summary>
    /// conmgr's login to the server; on the server's 28P01 one more lookup and, when the client's
    /// credentials still hold against it, one more login on a new connection from <paramref name="reopen"/>.
    /// Returns the connection logged in (its authentication consumed), or the error for the client.
    /// </summary>
    public async Task<(BackendConnection? Server, IReadOnlyList<byte[]> Notices, ErrorResponse? Error)> LoginAsync(BackendConnection server, LoginCredentials credentials, string user, int index, string instance, Func<Task<BackendConnection?>> reopen)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(reopen);
        user = RoleName(user);
        if (credentials.IsCertificate && settings.BackendTls.Cert is null)
        {
            server.Dispose();
            log.Log($"preauth: cannot log in to {instance} for user \"{user}\": a cert line at conmgr logs in with backend_sslcert, which is not set");
            return (null, [], ClientErrors.ServerLoginImpossible(instance, "conmgr logs a cert client in with its backend_sslcert, and backend_sslcert is not set"));
        }

        for (var attempt = 0; ; attempt++)
        {
            ServerLoginResult result;
            using (var deadline = new CancellationTokenSource(ApplicationHandler.StartupTimeout))
            {
                try
                {
                    result = await ServerLogin.RunAsync(server.Stream, server.Prelude, credentials, user, server.Tls?.RemoteCertificate, deadline.Token);
                }
                catch (Exception ex) when (ex is IOException or MessageFormatException or OperationCanceledException or System.Net.Sockets.SocketException)
                {
                    result = new(false, null, $"the login failed: {ex.Message}", []);
                }
            }

            if (result.LoggedIn)
            {
                return (new BackendConnection(server.Socket, server.Stream, server.Tls, null), result.Notices, null);
            }

            server.Dispose();
            if (result.PasswordRefused && attempt == 0)
            {
                // The secret may have changed between the lookup and the login: look again, once.
                try
                {
                    var fresh = await LookupAsync(index, user, [], CancellationToken.None);
                    if (fresh.Status == AuthLookupStatus.Found && credentials.StillValidFor(fresh.Secret, user) && await reopen() is { } again)
                    {
                        log.Log($"preauth: {instance} refused the login of user \"{user}\"; the secret looked up again still matches, retrying once");
                        server = again;
                        continue;
                    }
                }
                catch (AuthLookupException)
                {
                }
            }

            if (result.ServerError is { } serverError)
            {
                var error = ClientErrors.FromServer(ErrorResponse.FieldsOf(serverError.AsSpan(5)));
                log.Log($"preauth: {instance} refused conmgr's login of user \"{user}\": {error.Message}");
                return (null, [], error);
            }

            log.Log($"preauth: cannot log in to {instance} for user \"{user}\": {result.Impossible}");
            return (null, [], ClientErrors.ServerLoginImpossible(instance, result.Impossible!));
        }
    }

    /// <summary>
    /// The certificate's common name is the user, or map= (ident_file) lets it be: PostgreSQL's
    /// CheckCertAuth with clientname=CN. A mismatch is logged with the name, as the server logs it.
    /// </summary>
    private bool CertificateNames(ApplicationConnection connection, System.Security.Cryptography.X509Certificates.X509Certificate certificate, string user, HbaRule rule)
    {
        using var parsed = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var name = parsed.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, forIssuer: false);
        var ok = name.Length > 0 && (rule.IdentMap is { } map ? admission.Ident.Matches(map, name, user) : name == user);
        if (!ok)
        {
            log.Log($"preauth: {connection.Describe()}: the certificate's name \"{name}\" does not {(rule.IdentMap is { } m ? $"map to user \"{user}\" in map \"{m}\"" : $"match user \"{user}\"")} ({rule.File}:{rule.LineNumber})");
        }

        return ok;
    }

    /// <summary>The user name as the server takes it: cut to NAMEDATALEN − 1 bytes at a character boundary.</summary>
    public static string RoleName(string user) => Utf8Text.Cut(user, AuthLookupFrame.MaxNameBytes);

    private async Task<AuthLookupAnswerFrame> LookupAsync(int index, string user, IReadOnlyList<string> groups, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var answered = false;
        try
        {
            var answer = await monitors[index].LookupAsync(user, groups, settings.PreauthLookupTimeout, cancellationToken);
            answered = true;
            return answer;
        }
        finally
        {
            Diagnostics.ConMgrMetrics.RecordLookup(System.Diagnostics.Stopwatch.GetElapsedTime(started), answered);
        }
    }

    /// <summary>Why a mock exchange ran, for the log only (the client is told nothing), as the server logs "Role does not exist" and the like.</summary>
    private void Explain(ApplicationConnection connection, string user, AuthLookupAnswerFrame answer)
    {
        var why = answer.Status switch
        {
            AuthLookupStatus.Found => null,
            AuthLookupStatus.NoSuchRole => $"Role \"{user}\" does not exist.",
            AuthLookupStatus.NoPassword => $"User \"{user}\" has no password assigned, or one the watchdog does not hand out.",
            AuthLookupStatus.Expired => $"User \"{user}\" has an expired password.",
            AuthLookupStatus.Refused => $"The watchdog does not hand out the secret of \"{user}\" (a superuser, or not in watchdog.auth_lookup_roles).",
            AuthLookupStatus.RefusedLink => "The watchdog answers lookups only on links authenticated by a verified client certificate (watchdog.ssl_ca_file).",
            _ => "The watchdog could not look the role up.",
        };
        if (why is not null)
        {
            log.Log($"preauth: {connection.Describe()}: {why} The client gets a mock exchange.");
        }
    }

    /// <summary>The methods conmgr runs with the client, with the role's secret: password, md5, scram-sha-256.</summary>
    private static bool ChecksPassword(HbaRule rule) => rule.Method is HbaMethod.Password or HbaMethod.Md5 or HbaMethod.ScramSha256;

    private static string Method(HbaRule rule) => rule.Method switch
    {
        HbaMethod.ScramSha256 => "scram-sha-256",
        var other => other.ToString().ToLowerInvariant(),
    };
}
