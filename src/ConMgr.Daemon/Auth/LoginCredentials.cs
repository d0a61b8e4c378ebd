// LoginCredentials.cs: what a client proved to conmgr, in the form conmgr logs in to the server with (never stored, never logged).
using ConMgr.Daemon.Auth.Scram;

namespace ConMgr.Daemon.Auth;

/// <summary>
/// One of: the client's SCRAM ClientKey with the secret it was checked against (SCRAM to the
/// server), the md5 hash (md5 to the server), or the cleartext password of the password method
/// (whatever the server asks). <see cref="ToString"/> never shows any of them.
/// </summary>
public sealed class LoginCredentials
{
    private LoginCredentials(byte[]? clientKey, ScramVerifier? verifier, string? md5Hash, string? password)
    {
        ClientKey = clientKey;
        Verifier = verifier;
        Md5Hash = md5Hash;
        Password = password;
    }

    public byte[]? ClientKey { get; }

    public ScramVerifier? Verifier { get; }

    public string? Md5Hash { get; }

    public string? Password { get; }

    public static LoginCredentials FromScram(byte[] clientKey, ScramVerifier verifier) => new(clientKey, verifier, null, null);

    public static LoginCredentials FromMd5(string hash) => new(null, null, hash, null);

    public static LoginCredentials FromPassword(string password) => new(null, null, null, password);

    /// <summary>A cert client: nothing to answer a server with; conmgr's backend_sslcert is what the server checks.</summary>
    public static LoginCredentials Certificate { get; } = new(null, null, null, null);

    public bool IsCertificate => ClientKey is null && Md5Hash is null && Password is null;

    /// <summary>True when these credentials still prove the client against <paramref name="secret"/> (a secret looked up again).</summary>
    public bool StillValidFor(string secret, string user) => this switch
    {
        { ClientKey: { } key } => ScramVerifier.TryParse(secret) is { } v && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Security.Cryptography.SHA256.HashData(key), v.StoredKey),
        { Md5Hash: { } hash } => hash == secret,
        { Password: { } password } => PasswordCheck.Matches(password, secret, user),
        _ => false,
    };

    public override string ToString() => ClientKey is not null ? "SCRAM client key" : Md5Hash is not null ? "md5 hash" : Password is not null ? "password" : "certificate";
}
