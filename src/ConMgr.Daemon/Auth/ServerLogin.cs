// ServerLogin.cs: conmgr answering the server's authentication request for a client it authenticated: SCRAM with the client's key (bound to the server's certificate over TLS), md5 with the hash, or the password.
using System.Text;
using ConMgr.Daemon.Auth.Scram;
using ConMgr.Daemon.Proxy;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Auth;

/// <summary>How a server login ended: logged in; refused by the server (its ErrorResponse, to be relayed); or impossible with these credentials (why, for conmgr's error).</summary>
public sealed record ServerLoginResult(bool LoggedIn, byte[]? ServerError, string? Impossible, IReadOnlyList<byte[]> Notices)
{
    /// <summary>The server said 28P01 (the secret it holds is not the one the client was checked against).</summary>
    public bool PasswordRefused => ServerError is { } e && ErrorResponse.FieldOf(e, (byte)'C') == SqlState.InvalidPassword;
}

/// <summary>
/// Reads the server's messages up to and including AuthenticationOk, answering each request; the
/// messages after it (ParameterStatus, BackendKeyData, ReadyForQuery) are left on the connection
/// for the relay. NoticeResponse and NegotiateProtocolVersion before it are kept for the client.
/// With TLS to the server and -PLUS offered, the exchange binds to the server's certificate.
/// </summary>
public static class ServerLogin
{
    /// <summary>Requests a server may send before AuthenticationOk; more is a broken server.</summary>
    private const int MaxSteps = 16;

    /// <param name="first">The server's first message when the opener already read it, else null.</param>
    public static async Task<ServerLoginResult> RunAsync(Stream server, byte[]? first, LoginCredentials credentials, string user, System.Security.Cryptography.X509Certificates.X509Certificate? serverCertificate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(credentials);
        var notices = new List<byte[]>();
        ScramClientExchange? scram = null;
        var message = first;
        for (var step = 0; step < MaxSteps; step++)
        {
            message ??= await MessageIo.ReadAsync(server, cancellationToken);
            if (message is null)
            {
                return new(false, null, "the server closed the connection during authentication", notices);
            }

            if (message[0] == (byte)BackendMessageCode.ErrorResponse)
            {
                return new(false, message, null, notices);
            }

            if (message[0] == (byte)BackendMessageCode.NoticeResponse || message[0] == (byte)BackendMessageCode.NegotiateProtocolVersion)
            {
                notices.Add(message);
                message = null;
                continue;
            }

            var code = AuthenticationMessages.RequestCode(message);
            var data = AuthenticationMessages.RequestData(message).ToArray();
            byte[]? answer;
            switch (code)
            {
                case AuthenticationCodes.Ok:
                    return new(true, null, null, notices);
                case AuthenticationCodes.CleartextPassword when credentials.Password is { } password:
                    answer = AuthenticationMessages.Response(Encoding.UTF8.GetBytes(password), nulTerminated: true);
                    break;
                case AuthenticationCodes.Md5Password when data.Length == 4 && (credentials.Md5Hash ?? (credentials.Password is { } p ? Md5Password.Hash(p, user) : null)) is { } hash:
                    answer = AuthenticationMessages.Response(Encoding.ASCII.GetBytes(Md5Password.Answer(hash, data)), nulTerminated: true);
                    break;
                case AuthenticationCodes.Sasl when Keys(credentials) is { } keys && AuthenticationMessages.TryReadMechanisms(message, out var mechanisms):
                    var endPoint = ChannelBinding.ServerEndPoint(serverCertificate);
                    scram = new ScramClientExchange(keys, endPoint, tls: serverCertificate is not null);
                    var mechanism = scram.Mechanism(mechanisms);
                    if (!mechanisms.Contains(mechanism))
                    {
                        return new(false, null, $"the server offers {string.Join(", ", mechanisms)}, not SCRAM-SHA-256", notices);
                    }

                    answer = AuthenticationMessages.SaslInitialResponse(mechanism, Encoding.ASCII.GetBytes(scram.ClientFirst(mechanism)));
                    break;
                case AuthenticationCodes.SaslContinue when scram is not null:
                    var final = scram.ClientFinal(Encoding.UTF8.GetString(data));
                    if (final is null)
                    {
                        return new(false, null, "the server's SCRAM message was not valid (nonce, salt or iteration count)", notices);
                    }

                    answer = AuthenticationMessages.Response(Encoding.ASCII.GetBytes(final));
                    break;
                case AuthenticationCodes.SaslFinal when scram is not null:
                    if (!scram.Verify(Encoding.UTF8.GetString(data)))
                    {
                        return new(false, null, "the server's SCRAM signature does not match the secret its watchdog gave: it does not hold that secret", notices);
                    }

                    answer = null;
                    break;
                default:
                    return new(false, null, $"the server asked for {Describe(code)}, which conmgr cannot answer with the client's {credentials}", notices);
            }

            if (answer is not null)
            {
                await server.WriteAsync(answer, cancellationToken);
            }

            message = null;
        }

        return new(false, null, $"the server sent more than {MaxSteps} authentication requests", notices);
    }

    private static Func<byte[], int, (byte[] ClientKey, byte[] ServerKey)>? Keys(LoginCredentials credentials) => credentials switch
    {
        { ClientKey: { } key, Verifier: { } verifier } => (_, _) => (key, verifier.ServerKey),
        { Password: { } password } => (salt, iterations) => ScramVerifier.Keys(password, salt, iterations),
        _ => null,
    };

    private static string Describe(int? code) => code switch
    {
        AuthenticationCodes.CleartextPassword => "a cleartext password",
        AuthenticationCodes.Md5Password => "an md5 password",
        AuthenticationCodes.Sasl => "SASL (SCRAM-SHA-256)",
        AuthenticationCodes.Gss or AuthenticationCodes.GssContinue => "GSSAPI",
        AuthenticationCodes.Sspi => "SSPI",
        null => "something that is not an authentication request",
        _ => $"authentication request {code}",
    };
}
