// ScramServerExchange.cs: conmgr's side of one SCRAM-SHA-256(-PLUS) exchange, as PostgreSQL's auth-scram.c checks it, recovering the client's ClientKey.
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Daemon.Auth.Scram;

/// <summary>An exchange that cannot go on: the SQLSTATE, message and detail PostgreSQL sends for it.</summary>
public sealed class ScramException(string sqlState, string message, string? detail = null) : Exception(message)
{
    public string SqlState { get; } = sqlState;

    public string? Detail { get; } = detail;
}

/// <summary>
/// RFC 5802 / 7677 from the server's side, with PostgreSQL's rules: no authorization identity,
/// no mandatory extension, the user name in the message ignored (the startup message's counts);
/// with SCRAM-SHA-256-PLUS the binding is tls-server-end-point of conmgr's own certificate, and a
/// client that says "y" (it supports binding but thinks the server does not) on a TLS connection
/// is refused. A correct proof yields the client's ClientKey (ClientProof XOR ClientSignature,
/// checked against StoredKey), which is what logging in for the client needs. Every field is
/// length-checked; messages are at most <see cref="MaxMessageLength"/> characters.
/// </summary>
public sealed class ScramServerExchange
{
    /// <summary>A client-first or client-final message longer than this is refused before it is parsed.</summary>
    public const int MaxMessageLength = 8192;

    private const string ProtocolViolation = "08P01";
    private const string FeatureNotSupported = "0A000";
    private const string InvalidAuthorization = "28000";

    private readonly ScramVerifier _verifier;
    private readonly bool _plus;
    private readonly bool _tls;
    private string? _clientFirstBare;
    private string? _serverFirst;
    private string? _nonce;
    private string? _gs2Header;

    /// <param name="plus">The client chose SCRAM-SHA-256-PLUS.</param>
    /// <param name="tls">The connection is TLS (where conmgr offers -PLUS).</param>
    public ScramServerExchange(ScramVerifier verifier, bool plus, bool tls)
    {
        _verifier = verifier ?? throw new ArgumentNullException(nameof(verifier));
        _plus = plus;
        _tls = tls;
    }

    /// <summary>Reads client-first-message; returns server-first-message with <paramref name="serverNonce"/> (printable, no comma).</summary>
    public string ServerFirst(string clientFirst, string serverNonce)
    {
        ArgumentNullException.ThrowIfNull(clientFirst);
        ArgumentNullException.ThrowIfNull(serverNonce);
        Bounded(clientFirst);
        var input = clientFirst;
        var at = 0;
        switch (At(input, 0))
        {
            case 'n':
            case 'y':
                if (_plus)
                {
                    throw Malformed("The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.");
                }

                if (input[0] == 'y' && _tls)
                {
                    throw new ScramException(InvalidAuthorization, "SCRAM channel binding negotiation error", "The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.");
                }

                at = 1;
                Expect(input, ref at, ',', "Comma expected, but found character \"{0}\".");
                break;
            case 'p':
                if (!_plus)
                {
                    throw Malformed("The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.");
                }

                var type = Attribute(input, ref at, 'p');
                if (type != "tls-server-end-point")
                {
                    throw new ScramException(ProtocolViolation, $"unsupported SCRAM channel-binding type \"{type}\"");
                }

                break;
            default:
                throw Malformed($"Unexpected channel-binding flag \"{Show(At(input, 0))}\".");
        }

        if (At(input, at) == 'a')
        {
            throw new ScramException(FeatureNotSupported, "client uses authorization identity, but it is not supported");
        }

        Expect(input, ref at, ',', "Unexpected attribute \"{0}\" in client-first-message.");
        _gs2Header = input[..at];
        _clientFirstBare = input[at..];
        if (At(input, at) == 'm')
        {
            throw new ScramException(FeatureNotSupported, "client requires an unsupported SCRAM extension");
        }

        _ = Attribute(input, ref at, 'n');
        var clientNonce = Attribute(input, ref at, 'r');
        if (clientNonce.Length == 0 || !clientNonce.All(c => c is >= (char)0x21 and <= (char)0x7E && c != ','))
        {
            throw Malformed("Expected printable characters in the nonce.");
        }

        _nonce = clientNonce + serverNonce;
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(_verifier.Salt)},i={_verifier.Iterations}";
        return _serverFirst;
    }

    /// <summary>
    /// Reads client-final-message. Returns the server-final-message and the client's ClientKey
    /// when the proof is right; null when it is wrong (the caller sends 28P01, as for a wrong password).
    /// </summary>
    /// <param name="serverEndPoint">The hash of conmgr's certificate (RFC 5929 tls-server-end-point); required with -PLUS.</param>
    public (string ServerFinal, byte[] ClientKey)? Finish(string clientFinal, byte[]? serverEndPoint)
    {
        ArgumentNullException.ThrowIfNull(clientFinal);
        if (_serverFirst is null || _gs2Header is null || _clientFirstBare is null || _nonce is null)
        {
            throw new InvalidOperationException("client-final-message before client-first-message");
        }

        Bounded(clientFinal);
        var at = 0;
        var binding = Attribute(clientFinal, ref at, 'c');
        if (_plus)
        {
            if (serverEndPoint is null)
            {
                throw new InvalidOperationException("SCRAM-SHA-256-PLUS without the certificate's hash");
            }

            var expected = Convert.ToBase64String([.. Encoding.ASCII.GetBytes(_gs2Header), .. serverEndPoint]);
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(binding), Encoding.ASCII.GetBytes(expected)))
            {
                throw new ScramException(ProtocolViolation, "SCRAM channel binding check failed");
            }
        }
        else if (binding != Convert.ToBase64String(Encoding.ASCII.GetBytes(_gs2Header)) || binding is not ("biws" or "eSws"))
        {
            throw new ScramException(ProtocolViolation, "unexpected SCRAM channel-binding attribute in client-final-message");
        }

        if (Attribute(clientFinal, ref at, 'r') != _nonce)
        {
            throw Malformed("Nonce does not match.");
        }

        // Extensions before the proof are skipped, as the server skips them.
        var withoutProofEnd = at;
        while (At(clientFinal, at) is { } next && next != 'p')
        {
            _ = Attribute(clientFinal, ref at, next);
            withoutProofEnd = at;
        }

        var withoutProof = clientFinal[..Math.Max(0, withoutProofEnd - 1)];
        var proofText = Attribute(clientFinal, ref at, 'p');
        if (at != clientFinal.Length + 1 && at < clientFinal.Length)
        {
            throw Malformed("Garbage found at the end of client-final-message.");
        }

        var proof = new byte[ScramVerifier.KeyLength];
        if (!Convert.TryFromBase64String(proofText, proof, out var written) || written != ScramVerifier.KeyLength)
        {
            throw Malformed("Malformed proof in client-final-message.");
        }

        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{_serverFirst},{withoutProof}");
        var signature = HMACSHA256.HashData(_verifier.StoredKey, authMessage);
        var clientKey = new byte[ScramVerifier.KeyLength];
        for (var i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] = (byte)(proof[i] ^ signature[i]);
        }

        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(clientKey), _verifier.StoredKey))
        {
            return null;
        }

        return ($"v={Convert.ToBase64String(HMACSHA256.HashData(_verifier.ServerKey, authMessage))}", clientKey);
    }

    private static void Bounded(string message)
    {
        if (message.Length > MaxMessageLength)
        {
            throw Malformed($"The message is longer than {MaxMessageLength} characters.");
        }
    }

    /// <summary>Reads <c>attr=value</c> up to the next comma (which is consumed); PostgreSQL's read_attr_value.</summary>
    private static string Attribute(string input, ref int at, char attribute)
    {
        if (At(input, at) != attribute)
        {
            throw Malformed($"Expected attribute \"{attribute}\" but found \"{Show(At(input, at))}\".");
        }

        at++;
        if (At(input, at) != '=')
        {
            throw Malformed($"Expected character \"=\" for attribute \"{attribute}\".");
        }

        at++;
        var end = input.IndexOf(',', at);
        var value = end < 0 ? input[at..] : input[at..end];
        at = end < 0 ? input.Length + 1 : end + 1;
        return value;
    }

    private static void Expect(string input, ref int at, char expected, string detail)
    {
        if (At(input, at) != expected)
        {
            throw Malformed(string.Format(System.Globalization.CultureInfo.InvariantCulture, detail, Show(At(input, at))));
        }

        at++;
    }

    private static char? At(string input, int at) => at >= 0 && at < input.Length ? input[at] : null;

    private static string Show(char? c) => c is { } value && value is >= ' ' and <= '~' ? value.ToString() : c is null ? "(end of message)" : $"0x{(int)c.Value:x2}";

    private static ScramException Malformed(string detail) => new(ProtocolViolation, "malformed SCRAM message", detail);
}
