// Md5Password.cs: PostgreSQL's md5 method: the stored hash md5(password || user), and the answer md5(hash || salt).
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Daemon.Auth;

/// <summary>
/// rolpassword "md5" + hex(md5(password || user)); a client answers a salt with "md5" +
/// hex(md5(hex || salt)). Knowing the stored hash is enough to answer, which is why the watchdog
/// hands md5 hashes out only with watchdog.auth_lookup_md5 = on.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "PostgreSQL's md5 authentication method is defined by MD5; it is used only where conmgr_hba.conf and watchdog.auth_lookup_md5 ask for it.")]
public static class Md5Password
{
    public static bool IsHash(string? secret) => secret is { Length: 35 } && secret.StartsWith("md5", StringComparison.Ordinal) && secret[3..].All(Uri.IsHexDigit);

    /// <summary>The stored form of <paramref name="password"/> for <paramref name="user"/>.</summary>
    public static string Hash(string password, string user) =>
        "md5" + Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(password + user)));

    /// <summary>The answer to <paramref name="salt"/> from the stored hash (with its "md5" prefix).</summary>
    public static string Answer(string storedHash, ReadOnlySpan<byte> salt)
    {
        ArgumentNullException.ThrowIfNull(storedHash);
        return "md5" + Convert.ToHexStringLower(MD5.HashData([.. Encoding.ASCII.GetBytes(storedHash[3..]), .. salt]));
    }
}
