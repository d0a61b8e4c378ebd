// PasswordCheck.cs: the password method's check of a cleartext password against a SCRAM secret or an md5 hash, as PostgreSQL's plain_crypt_verify.
using System.Security.Cryptography;
using ConMgr.Daemon.Auth.Scram;

namespace ConMgr.Daemon.Auth;

public static class PasswordCheck
{
    /// <summary>True when <paramref name="password"/> is the one <paramref name="secret"/> was made from (constant time in the keys).</summary>
    public static bool Matches(string password, string secret, string user)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(secret);
        if (ScramVerifier.TryParse(secret) is { } verifier)
        {
            var candidate = ScramVerifier.FromPassword(password, verifier.Salt, verifier.Iterations);
            return CryptographicOperations.FixedTimeEquals(candidate.StoredKey, verifier.StoredKey)
                && CryptographicOperations.FixedTimeEquals(candidate.ServerKey, verifier.ServerKey);
        }

        return Md5Password.IsHash(secret) && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(Md5Password.Hash(password, user)), System.Text.Encoding.ASCII.GetBytes(secret));
    }
}
