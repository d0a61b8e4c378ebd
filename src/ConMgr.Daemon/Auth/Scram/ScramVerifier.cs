// ScramVerifier.cs: a role's SCRAM-SHA-256 secret as pg_authid.rolpassword stores it, parsed with every field checked, or a mock one for a role that does not exist.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Daemon.Auth.Scram;

/// <summary>
/// <c>SCRAM-SHA-256$&lt;iterations&gt;:&lt;salt&gt;$&lt;StoredKey&gt;:&lt;ServerKey&gt;</c>
/// (PostgreSQL's auth-scram.c, parse_scram_secret). Whoever holds StoredKey can check a client's
/// proof and recover its ClientKey, which is what lets conmgr log in for the client later.
/// </summary>
public sealed record ScramVerifier(int Iterations, byte[] Salt, byte[] StoredKey, byte[] ServerKey)
{
    public const int KeyLength = 32;

    /// <summary>PostgreSQL's default (scram_iterations, 4096).</summary>
    public const int DefaultIterations = 4096;

    /// <summary>Iterations accepted from a stored secret: PostgreSQL allows 1 .. INT_MAX; beyond 10 million a login would take minutes.</summary>
    public const int MaxIterations = 10_000_000;

    /// <summary>Salts accepted: PostgreSQL makes 16 bytes; a stored one may be any length up to this.</summary>
    public const int MaxSaltLength = 1024;

    /// <summary>The verifier in <paramref name="secret"/>, or null when it is not a well-formed SCRAM-SHA-256 secret (an md5 one, say).</summary>
    public static ScramVerifier? TryParse(string? secret)
    {
        if (secret is null || !secret.StartsWith("SCRAM-SHA-256$", StringComparison.Ordinal) || secret.Length > 4096)
        {
            return null;
        }

        var parts = secret["SCRAM-SHA-256$".Length..].Split('$');
        if (parts.Length != 2)
        {
            return null;
        }

        var head = parts[0].Split(':');
        var keys = parts[1].Split(':');
        if (head.Length != 2 || keys.Length != 2
            || !int.TryParse(head[0], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations is < 1 or > MaxIterations
            || Base64(head[1]) is not { Length: > 0 and <= MaxSaltLength } salt
            || Base64(keys[0]) is not { Length: KeyLength } stored
            || Base64(keys[1]) is not { Length: KeyLength } server)
        {
            return null;
        }

        return new ScramVerifier(iterations, salt, stored, server);
    }

    /// <summary>The verifier a password makes with this salt and iteration count (RFC 5802's SaltedPassword, ClientKey, StoredKey, ServerKey).</summary>
    public static ScramVerifier FromPassword(string password, byte[] salt, int iterations = DefaultIterations)
    {
        var (clientKey, serverKey) = Keys(password, salt, iterations);
        return new ScramVerifier(iterations, salt, SHA256.HashData(clientKey), serverKey);
    }

    /// <summary>ClientKey and ServerKey of <paramref name="password"/> with this salt and iteration count.</summary>
    public static (byte[] ClientKey, byte[] ServerKey) Keys(string password, byte[] salt, int iterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(salt);

        // PostgreSQL applies SASLprep first: the identity for ASCII; NFKC is its normalisation step for the rest.
        var prepared = password.All(char.IsAscii) ? password : password.Normalize(NormalizationForm.FormKC);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(prepared), salt, iterations, HashAlgorithmName.SHA256, KeyLength);
        return (HMACSHA256.HashData(salted, "Client Key"u8), HMACSHA256.HashData(salted, "Server Key"u8));
    }

    /// <summary>
    /// A verifier for a role that does not exist or has no SCRAM secret, as PostgreSQL's
    /// scram_mock_salt: its salt is a keyed hash of the role name, so the same name always gets the
    /// same salt and an exchange looks the same as for a real role until the proof fails.
    /// </summary>
    public static ScramVerifier Mock(string role, byte[] mockKey)
    {
        ArgumentNullException.ThrowIfNull(role);
        ArgumentNullException.ThrowIfNull(mockKey);
        var salt = HMACSHA256.HashData(mockKey, Encoding.UTF8.GetBytes(role))[..16];
        return new ScramVerifier(DefaultIterations, salt, RandomNumberGenerator.GetBytes(KeyLength), RandomNumberGenerator.GetBytes(KeyLength));
    }

    public override string ToString() =>
        $"SCRAM-SHA-256${Iterations.ToString(CultureInfo.InvariantCulture)}:{Convert.ToBase64String(Salt)}${Convert.ToBase64String(StoredKey)}:{Convert.ToBase64String(ServerKey)}";

    private static byte[]? Base64(string text)
    {
        var buffer = new byte[(text.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
    }
}
