// ScramClientExchange.cs: conmgr logging in to a server by SCRAM-SHA-256(-PLUS) with a ClientKey it recovered from the client's proof, never the password.
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Daemon.Auth.Scram;

/// <summary>
/// The client side of RFC 5802 with the keys instead of the password: ClientProof = ClientKey XOR
/// HMAC(H(ClientKey), AuthMessage), which is all the proof a server checks; the server's signature
/// is checked with the ServerKey of the secret conmgr looked up, so conmgr knows it is talking to a
/// server that holds that secret. With a TLS connection to the server that offers -PLUS, the
/// exchange binds to the server's certificate (<paramref name="serverEndPoint"/>); with TLS and no
/// -PLUS it says "y" (it could bind), as libpq does, so a downgrade is caught by the server.
/// </summary>
/// <param name="keys">ClientKey and ServerKey for the server's salt and iteration count: fixed ones recovered from a client, or ones derived from a cleartext password.</param>
public sealed class ScramClientExchange(Func<byte[], int, (byte[] ClientKey, byte[] ServerKey)> keys, byte[]? serverEndPoint, bool tls)
{
    private byte[]? _serverKey;

    private string? _clientFirstBare;
    private string? _gs2Header;
    private string? _authMessage;

    /// <summary>The mechanism this exchange runs, given what the server offers.</summary>
    public string Mechanism(IReadOnlyList<string> offered) =>
        serverEndPoint is not null && offered.Contains("SCRAM-SHA-256-PLUS") ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";

    public string ClientFirst(string mechanism)
    {
        _gs2Header = mechanism == "SCRAM-SHA-256-PLUS" ? "p=tls-server-end-point,," : tls ? "y,," : "n,,";
        _clientFirstBare = $"n=,r={Convert.ToBase64String(RandomNumberGenerator.GetBytes(18))}";
        return _gs2Header + _clientFirstBare;
    }

    /// <summary>From server-first-message, client-final-message; null when the server's message is not one we accept (nonce not ours, missing salt or iterations).</summary>
    public string? ClientFinal(string serverFirst)
    {
        ArgumentNullException.ThrowIfNull(serverFirst);
        if (_clientFirstBare is null || _gs2Header is null)
        {
            throw new InvalidOperationException("server-first-message before client-first-message");
        }

        var nonce = _clientFirstBare["n=,r=".Length..];
        var parts = serverFirst.Split(',');
        if (parts.Length < 3 || !parts[0].StartsWith("r=" + nonce, StringComparison.Ordinal) || parts[0].Length <= nonce.Length + 2 || !parts[1].StartsWith("s=", StringComparison.Ordinal) || !parts[2].StartsWith("i=", StringComparison.Ordinal))
        {
            return null;
        }

        var salt = new byte[ScramVerifier.MaxSaltLength];
        if (parts[1].Length > 2 + (ScramVerifier.MaxSaltLength * 4 / 3) + 4 || !Convert.TryFromBase64String(parts[1][2..], salt, out var saltLength) || saltLength == 0
            || !int.TryParse(parts[2][2..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var iterations) || iterations is < 1 or > ScramVerifier.MaxIterations)
        {
            return null;
        }

        var (clientKey, serverKey) = keys(salt[..saltLength], iterations);
        _serverKey = serverKey;
        byte[] binding = _gs2Header.StartsWith('p') ? [.. Encoding.ASCII.GetBytes(_gs2Header), .. serverEndPoint!] : Encoding.ASCII.GetBytes(_gs2Header);
        var withoutProof = $"c={Convert.ToBase64String(binding)},{parts[0]}";
        _authMessage = $"{_clientFirstBare},{serverFirst},{withoutProof}";
        var signature = HMACSHA256.HashData(SHA256.HashData(clientKey), Encoding.UTF8.GetBytes(_authMessage));
        var proof = new byte[clientKey.Length];
        for (var i = 0; i < proof.Length; i++)
        {
            proof[i] = (byte)(clientKey[i] ^ signature[i]);
        }

        return $"{withoutProof},p={Convert.ToBase64String(proof)}";
    }

    /// <summary>True when server-final-message carries the signature only a holder of the ServerKey can make.</summary>
    public bool Verify(string serverFinal)
    {
        ArgumentNullException.ThrowIfNull(serverFinal);
        if (_authMessage is null || _serverKey is null || !serverFinal.StartsWith("v=", StringComparison.Ordinal))
        {
            return false;
        }

        var expected = HMACSHA256.HashData(_serverKey, Encoding.UTF8.GetBytes(_authMessage));
        var given = new byte[expected.Length];
        return Convert.TryFromBase64String(serverFinal[2..], given, out var written) && written == expected.Length && CryptographicOperations.FixedTimeEquals(given, expected);
    }
}
