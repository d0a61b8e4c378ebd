// HeartbeatAuthSetup.cs: the files an authenticated heartbeat needs (a CA, the watchdog's and conmgr's certificates, a shared secret) and the settings that name them.
using System.Security.Cryptography;

namespace ConMgr.Testing;

/// <summary>
/// One test's (or benchmark's) heartbeat credentials: the watchdog's certificate for <c>watchdogHost</c>, conmgr's
/// client certificate, a stranger's client certificate from another CA, the shared secret and a
/// wrong one. Every file belongs to the postgres OS user (the watchdog and conmgr run as it).
/// </summary>
public sealed class HeartbeatAuthSetup : IDisposable
{
    private HeartbeatAuthSetup(TestPki pki, TestPki other, CertificateFiles watchdog, CertificateFiles conmgr, CertificateFiles stranger, string secret, string wrongSecret)
    {
        Pki = pki;
        Other = other;
        Watchdog = watchdog;
        Conmgr = conmgr;
        Stranger = stranger;
        SecretFile = secret;
        WrongSecretFile = wrongSecret;
    }

    public TestPki Pki { get; }

    public TestPki Other { get; }

    public CertificateFiles Watchdog { get; }

    public CertificateFiles Conmgr { get; }

    public CertificateFiles Stranger { get; }

    public string SecretFile { get; }

    public string WrongSecretFile { get; }

    /// <summary>watchdog.ssl = <paramref name="ssl"/> with its certificate, and conmgr certificates required (the CA) unless <paramref name="clientCertificates"/> is false.</summary>
    public string[] WatchdogTls(string ssl = "require", bool clientCertificates = true) =>
        [$"watchdog.ssl = {ssl}", $"watchdog.ssl_cert_file = '{Watchdog.Cert}'", $"watchdog.ssl_key_file = '{Watchdog.Key}'", $"watchdog.ssl_ca_file = '{(clientCertificates ? Pki.CaFile : "none")}'"];

    public string[] WatchdogSecret => [$"watchdog.secret_file = '{SecretFile}'"];

    /// <summary>conmgr.conf lines: TLS to the watchdogs, verified against <paramref name="roots"/> (default: the CA), with <paramref name="client"/>'s certificate (default: conmgr's; null: none).</summary>
    public string ConmgrTls(string? roots = null, CertificateFiles? client = null, bool withClient = true)
    {
        var certificate = client ?? Conmgr;
        return $"heartbeat_sslrootcert = '{roots ?? Pki.CaFile}'\n" + (withClient ? $"heartbeat_sslcert = '{certificate.Cert}'\nheartbeat_sslkey = '{certificate.Key}'\n" : string.Empty);
    }

    public string ConmgrSecret(bool wrong = false) => $"heartbeat_secret_file = '{(wrong ? WrongSecretFile : SecretFile)}'\n";

    public static async Task<HeartbeatAuthSetup> CreateAsync(string watchdogHost)
    {
        var pki = TestPki.CreateTemporary();
        var other = TestPki.Create(Path.Combine(pki.Directory, "other"), "Some Other CA");
        var watchdog = pki.Issue("watchdog", watchdogHost, [watchdogHost, "localhost"]);
        var conmgr = pki.Issue("conmgr-client", "conmgr", ["conmgr.example"], client: true);
        var stranger = other.Issue("stranger", "conmgr", ["conmgr.example"], client: true);
        var secret = WriteSecret(pki.Directory, "secret");
        var wrong = WriteSecret(pki.Directory, "wrong-secret");
        await pki.ChownAsync();
        return new HeartbeatAuthSetup(pki, other, watchdog, conmgr, stranger, secret, wrong);
    }

    public void Dispose()
    {
        Other.Dispose();
        Pki.Dispose();
    }

    private static string WriteSecret(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, Convert.ToHexString(RandomNumberGenerator.GetBytes(24)) + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }
}
