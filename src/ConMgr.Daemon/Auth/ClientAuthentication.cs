// ClientAuthentication.cs: conmgr authenticating one proxy client by password, md5 or SCRAM-SHA-256(-PLUS), with the secret its instance's watchdog gave.
using System.Security.Cryptography;
using System.Text;
using ConMgr.Configuration.Hba;
using ConMgr.Daemon.Auth.Scram;
using ConMgr.Daemon.Proxy;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Auth;

/// <summary>The end of a client's authentication: credentials to log in with and what the client is sent once the server login worked; or the error it gets.</summary>
public sealed record ClientAuthResult(LoginCredentials? Credentials, byte[]? Final, ErrorResponse? Error)
{
    public static ClientAuthResult Failed(ErrorResponse error) => new(null, null, error);
}

/// <summary>
/// PostgreSQL's choices (auth.c, CheckPWChallengeAuth): scram-sha-256 runs SCRAM; md5 runs SCRAM
/// when the secret is a SCRAM one and md5 only with an md5 hash; password asks for the cleartext
/// and checks it against either. Whatever has no usable secret (no such role, no password, an
/// expired one, one the watchdog will not hand out) runs the same exchange with the watchdog's mock
/// secret and fails as a wrong password does, so the client learns nothing of which roles exist.
/// SCRAM-SHA-256-PLUS is offered only over TLS and only when conmgr's certificate has a
/// tls-server-end-point hash. NOLOGIN is told only after a right password, as the server tells it.
/// Every message read is bounded by <see cref="MessageIo.MaxMessage"/>.
/// </summary>
public sealed class ClientAuthentication(Stream client, string user, bool tls, byte[]? endPoint)
{
    private const string Scram = "SCRAM-SHA-256";
    private const string ScramPlus = "SCRAM-SHA-256-PLUS";

    public async Task<ClientAuthResult> RunAsync(HbaMethod method, AuthLookupAnswerFrame answer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var found = answer.Status == AuthLookupStatus.Found;
        var md5 = found && Md5Password.IsHash(answer.Secret) ? answer.Secret : null;
        var result = method switch
        {
            HbaMethod.Password => await PasswordAsync(found ? answer.Secret : null, cancellationToken),
            HbaMethod.Md5 when md5 is not null => await Md5Async(md5, cancellationToken),
            _ => await ScramWithSecretAsync(answer, found, cancellationToken),
        };
        return result.Error is null && !answer.CanLogin ? ClientAuthResult.Failed(ClientErrors.RoleCannotLogIn(user)) : result;
    }

    /// <summary>
    /// SCRAM with the role's secret when it is a SCRAM one; otherwise with the watchdog's mock
    /// (a stable salt for the name), or, for a found md5 hash the method cannot use, a mock of
    /// conmgr's own: the exchange runs to its end either way and fails as a wrong password.
    /// </summary>
    private Task<ClientAuthResult> ScramWithSecretAsync(AuthLookupAnswerFrame answer, bool found, CancellationToken cancellationToken)
    {
        var parsed = ScramVerifier.TryParse(answer.Secret);
        var real = found && parsed is not null;
        return ScramAsync(parsed ?? ScramVerifier.Mock(user, RandomNumberGenerator.GetBytes(32)), real, cancellationToken);
    }

    private async Task<ClientAuthResult> ScramAsync(ScramVerifier verifier, bool real, CancellationToken cancellationToken)
    {
        var plusOffered = tls && endPoint is not null;
        await client.WriteAsync(AuthenticationMessages.Sasl(plusOffered ? [ScramPlus, Scram] : [Scram]), cancellationToken);
        var initial = await ReadAsync("SASL", cancellationToken);
        if (initial.Error is { } error)
        {
            return ClientAuthResult.Failed(error);
        }

        if (!AuthenticationMessages.TryReadSaslInitialData(initial.Message, out var mechanism, out var data) || data is null)
        {
            return ClientAuthResult.Failed(ClientErrors.Scram(SqlState.ProtocolViolation, "malformed SASL message", null));
        }

        if (mechanism != Scram && !(mechanism == ScramPlus && plusOffered))
        {
            return ClientAuthResult.Failed(ClientErrors.Scram(SqlState.ProtocolViolation, "client selected an invalid SASL authentication mechanism", null));
        }

        var exchange = new ScramServerExchange(verifier, plus: mechanism == ScramPlus, tls: plusOffered);
        try
        {
            var serverFirst = exchange.ServerFirst(Text(data), Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)));
            await client.WriteAsync(AuthenticationMessages.Request(AuthenticationCodes.SaslContinue, Encoding.ASCII.GetBytes(serverFirst)), cancellationToken);
            var final = await ReadAsync("SASL", cancellationToken);
            if (final.Error is { } finalError)
            {
                return ClientAuthResult.Failed(finalError);
            }

            var finished = exchange.Finish(Text(AuthenticationMessages.SaslResponseData(final.Message)), mechanism == ScramPlus ? endPoint : null);
            if (finished is not { } ok || !real)
            {
                return ClientAuthResult.Failed(ClientErrors.PasswordAuthenticationFailed(user));
            }

            return new ClientAuthResult(LoginCredentials.FromScram(ok.ClientKey, verifier), AuthenticationMessages.Request(AuthenticationCodes.SaslFinal, Encoding.ASCII.GetBytes(ok.ServerFinal)), null);
        }
        catch (ScramException ex)
        {
            return ClientAuthResult.Failed(ClientErrors.Scram(ex.SqlState, ex.Message, ex.Detail));
        }
    }

    private async Task<ClientAuthResult> Md5Async(string hash, CancellationToken cancellationToken)
    {
        var salt = RandomNumberGenerator.GetBytes(4);
        await client.WriteAsync(AuthenticationMessages.Request(AuthenticationCodes.Md5Password, salt), cancellationToken);
        var response = await ReadAsync("password", cancellationToken);
        if (response.Error is { } error)
        {
            return ClientAuthResult.Failed(error);
        }

        if (!AuthenticationMessages.TryReadPassword(response.Message, out var given))
        {
            return ClientAuthResult.Failed(ClientErrors.Scram(SqlState.ProtocolViolation, "invalid password packet size", null));
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.ASCII.GetBytes(Md5Password.Answer(hash, salt)))
            ? new ClientAuthResult(LoginCredentials.FromMd5(hash), null, null)
            : ClientAuthResult.Failed(ClientErrors.PasswordAuthenticationFailed(user));
    }

    private async Task<ClientAuthResult> PasswordAsync(string? secret, CancellationToken cancellationToken)
    {
        await client.WriteAsync(AuthenticationMessages.Request(AuthenticationCodes.CleartextPassword), cancellationToken);
        var response = await ReadAsync("password", cancellationToken);
        if (response.Error is { } error)
        {
            return ClientAuthResult.Failed(error);
        }

        if (!AuthenticationMessages.TryReadPassword(response.Message, out var password))
        {
            return ClientAuthResult.Failed(ClientErrors.Scram(SqlState.ProtocolViolation, "invalid password packet size", null));
        }

        // An empty password is always refused, as the server refuses it (auth.c, recv_password_packet).
        return password.Length > 0 && secret is not null && PasswordCheck.Matches(password, secret, user)
            ? new ClientAuthResult(LoginCredentials.FromPassword(password), null, null)
            : ClientAuthResult.Failed(ClientErrors.PasswordAuthenticationFailed(user));
    }

    /// <summary>The client's next message, which must be a 'p'; a closed connection or another message is an error (the client is then dropped).</summary>
    private async Task<(byte[] Message, ErrorResponse? Error)> ReadAsync(string expected, CancellationToken cancellationToken)
    {
        byte[]? message;
        try
        {
            message = await MessageIo.ReadAsync(client, cancellationToken);
        }
        catch (MessageFormatException ex)
        {
            return ([], ClientErrors.Scram(SqlState.ProtocolViolation, $"invalid {expected} message: {ex.Message}", null));
        }

        if (message is null)
        {
            // The client went away (psql does that to ask for a password): no error to send, but a reason for the log.
            return ([], ClientErrors.ConnectionLostDuringAuthentication(null));
        }

        return message[0] == (byte)'p' ? (message, null) : ([], ClientErrors.UnexpectedAuthenticationMessage(expected, message[0]));
    }

    private static string Text(ReadOnlySpan<byte> data) => Encoding.UTF8.GetString(data);
}
