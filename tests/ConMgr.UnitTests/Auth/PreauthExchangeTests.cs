// PreauthExchangeTests.cs: conmgr's two SCRAM roles meet: a client's proof checked, its ClientKey recovered and used to log in elsewhere; md5 and cleartext checks; channel-binding hashes.
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ConMgr.Daemon.Auth;
using ConMgr.Daemon.Auth.Scram;

namespace ConMgr.UnitTests.Auth;

public sealed class PreauthExchangeTests
{
    private const string Password = "pencil";

    private static readonly byte[] Salt = Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ==");

    /// <summary>A client that knows the password, against conmgr's server side with the role's secret.</summary>
    private static (string ServerFinal, byte[] ClientKey)? ClientLogsIn(ScramVerifier verifier, string password, byte[]? endPoint = null)
    {
        var client = new ScramClientExchange((salt, iterations) => ScramVerifier.Keys(password, salt, iterations), endPoint, tls: endPoint is not null);
        var server = new ScramServerExchange(verifier, plus: endPoint is not null, tls: endPoint is not null);
        var mechanism = client.Mechanism(endPoint is null ? ["SCRAM-SHA-256"] : ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
        var serverFirst = server.ServerFirst(client.ClientFirst(mechanism), "conmgrnonce");
        var finished = server.Finish(client.ClientFinal(serverFirst)!, endPoint);
        if (finished is { } ok)
        {
            Assert.True(client.Verify(ok.ServerFinal));
        }

        return finished;
    }

    [Fact]
    public void The_key_recovered_from_a_clients_proof_logs_in_to_a_server_that_holds_the_same_secret()
    {
        var secret = ScramVerifier.FromPassword(Password, Salt);
        var recovered = ClientLogsIn(secret, Password)!.Value.ClientKey;

        // conmgr towards the server: no password, only the key and the ServerKey to check the server with.
        var login = new ScramClientExchange((_, _) => (recovered, secret.ServerKey), null, tls: false);
        var server = new ScramServerExchange(secret, plus: false, tls: false);
        var serverFirst = server.ServerFirst(login.ClientFirst(login.Mechanism(["SCRAM-SHA-256"])), "servernonce");
        var (serverFinal, _) = server.Finish(login.ClientFinal(serverFirst)!, null)!.Value;

        Assert.True(login.Verify(serverFinal));
        Assert.False(login.Verify("v=" + Convert.ToBase64String(new byte[32])));
        Assert.True(LoginCredentials.FromScram(recovered, secret).StillValidFor(secret.ToString(), "user"));

        // After ALTER ROLE ... PASSWORD (the same password, a new salt) the old key proves nothing.
        var rotated = ScramVerifier.FromPassword(Password, RandomNumberGenerator.GetBytes(16));
        Assert.False(LoginCredentials.FromScram(recovered, secret).StillValidFor(rotated.ToString(), "user"));
    }

    [Fact]
    public void A_wrong_password_gives_no_key_and_channel_binding_must_match_conmgrs_certificate()
    {
        var secret = ScramVerifier.FromPassword(Password, Salt);
        Assert.Null(ClientLogsIn(secret, "pen"));

        var endPoint = SHA256.HashData("conmgr's certificate"u8);
        Assert.NotNull(ClientLogsIn(secret, Password, endPoint));

        // The client bound to another certificate (a man in the middle's): PostgreSQL's refusal.
        var client = new ScramClientExchange((salt, iterations) => ScramVerifier.Keys(Password, salt, iterations), SHA256.HashData("another"u8), tls: true);
        var server = new ScramServerExchange(secret, plus: true, tls: true);
        var serverFirst = server.ServerFirst(client.ClientFirst("SCRAM-SHA-256-PLUS"), "n");
        var error = Assert.Throws<ScramException>(() => server.Finish(client.ClientFinal(serverFirst)!, endPoint));
        Assert.Equal("SCRAM channel binding check failed", error.Message);
    }

    [Theory]
    [InlineData("r=someone-elses-nonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")]
    [InlineData("r={0}x,s=,i=4096")]
    [InlineData("r={0}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0")]
    [InlineData("r={0}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001")]
    [InlineData("r={0}x,s=W22ZaJ0SNY7soEsUEjb6gQ==")]
    [InlineData("r={0},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")]
    public void A_server_first_message_conmgr_cannot_trust_ends_the_login(string template)
    {
        var client = new ScramClientExchange((_, _) => (new byte[32], new byte[32]), null, tls: false);
        var first = client.ClientFirst("SCRAM-SHA-256");
        var nonce = first[(first.IndexOf("r=", StringComparison.Ordinal) + 2)..];

        Assert.Null(client.ClientFinal(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, nonce)));
    }

    [Fact]
    public void Over_tls_without_plus_on_offer_conmgr_says_y_so_that_a_downgrade_is_caught()
    {
        var client = new ScramClientExchange((_, _) => (new byte[32], new byte[32]), SHA256.HashData("x"u8), tls: true);

        Assert.Equal("SCRAM-SHA-256", client.Mechanism(["SCRAM-SHA-256"]));
        Assert.StartsWith("y,,", client.ClientFirst("SCRAM-SHA-256"), StringComparison.Ordinal);
        Assert.StartsWith("n,,", new ScramClientExchange((_, _) => (new byte[32], new byte[32]), null, tls: false).ClientFirst("SCRAM-SHA-256"), StringComparison.Ordinal);
    }

    [Fact]
    public void Md5_hashes_and_answers_are_postgresqls()
    {
        // md5("secret" || "alice"), and its answer to the salt 01 02 03 04 (computed independently).
        Assert.Equal("md54a0a68b43b6cd5cf266fa02f196e2371", Md5Password.Hash("secret", "alice"));
        Assert.Equal("md598a0412b9c31436fc53776e863350083", Md5Password.Answer("md54a0a68b43b6cd5cf266fa02f196e2371", [1, 2, 3, 4]));
        Assert.True(Md5Password.IsHash("md54a0a68b43b6cd5cf266fa02f196e2371"));
        Assert.False(Md5Password.IsHash("md54a0a68b43b6cd5cf266fa02f196e237"));
        Assert.False(Md5Password.IsHash("md5za0a68b43b6cd5cf266fa02f196e2371"));
    }

    [Fact]
    public void The_password_method_checks_a_cleartext_password_against_either_kind_of_secret()
    {
        var scram = ScramVerifier.FromPassword(Password, Salt).ToString();
        Assert.True(PasswordCheck.Matches(Password, scram, "user"));
        Assert.False(PasswordCheck.Matches("pencil ", scram, "user"));
        Assert.True(PasswordCheck.Matches("secret", "md54a0a68b43b6cd5cf266fa02f196e2371", "alice"));
        Assert.False(PasswordCheck.Matches("secret", "md54a0a68b43b6cd5cf266fa02f196e2371", "bob"));
        Assert.False(PasswordCheck.Matches("secret", "plain text is never a secret", "alice"));
    }

    [Fact]
    public void Credentials_never_show_themselves()
    {
        Assert.Equal("password", LoginCredentials.FromPassword("hunter2").ToString());
        Assert.Equal("md5 hash", LoginCredentials.FromMd5("md54a0a68b43b6cd5cf266fa02f196e2371").ToString());
    }

    public static TheoryData<string, int> SignatureHashes => new()
    {
        { "SHA1", 32 },   // RFC 5929: SHA-1 is upgraded to SHA-256
        { "SHA256", 32 },
        { "SHA384", 48 },
        { "SHA512", 64 },
    };

    [Theory]
    [MemberData(nameof(SignatureHashes))]
    public void Tls_server_end_point_hashes_the_certificate_with_its_signatures_hash(string hash, int length)
    {
        using var key = RSA.Create(2048);
        var name = new HashAlgorithmName(hash);
        var request = new CertificateRequest("CN=conmgr", key, name == HashAlgorithmName.SHA1 ? HashAlgorithmName.SHA256 : name, RSASignaturePadding.Pkcs1);
        using var certificate = name == HashAlgorithmName.SHA1
            ? request.Create(new X500DistinguishedName("CN=conmgr"), new Sha1RsaGenerator(key), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3])
            : request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        var endPoint = ChannelBinding.ServerEndPoint(certificate);

        Assert.Equal(length, endPoint!.Length);
        var expected = length switch { 48 => SHA384.HashData(certificate.RawData), 64 => SHA512.HashData(certificate.RawData), _ => SHA256.HashData(certificate.RawData) };
        Assert.Equal(expected, endPoint);
    }

    [Fact]
    public void A_certificate_whose_signature_has_no_single_hash_offers_no_binding()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=conmgr", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        Assert.Null(ChannelBinding.ServerEndPoint(certificate));
        Assert.Null(ChannelBinding.ServerEndPoint(null));
    }

    [Fact]
    public void Long_role_names_are_cut_as_the_server_cuts_them()
    {
        Assert.Equal(new string('a', 63), Preauthenticator.RoleName(new string('a', 70)));
        var cut = Preauthenticator.RoleName(new string('ö', 40));
        Assert.Equal(31, cut.Length);
        Assert.True(Encoding.UTF8.GetByteCount(cut) <= 63);
        Assert.Equal("app", Preauthenticator.RoleName("app"));
    }

    /// <summary>.NET no longer signs with SHA-1; servers with such old certificates still exist, so the test signs one itself.</summary>
    private sealed class Sha1RsaGenerator(RSA key) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) =>
            [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05, 0x05, 0x00];

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => key.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);

        protected override PublicKey BuildPublicKey() => X509SignatureGenerator.CreateForRSA(key, RSASignaturePadding.Pkcs1).PublicKey;
    }
}
