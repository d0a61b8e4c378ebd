// ScramServerExchangeTests.cs: conmgr's SCRAM-SHA-256 server side against RFC 7677's example, PostgreSQL's refusals, and random input.
using System.Security.Cryptography;
using ConMgr.Daemon.Auth.Scram;

namespace ConMgr.UnitTests.Auth;

public sealed class ScramServerExchangeTests
{
    // RFC 7677, section 3: user "user", password "pencil".
    private const string ClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    private const string ServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    private const string ServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    private const string ClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    private const string ServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    private static readonly ScramVerifier Pencil = ScramVerifier.FromPassword("pencil", Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="));

    [Fact]
    public void The_rfc_7677_exchange_gives_its_server_messages_and_the_client_key_that_makes_the_stored_key()
    {
        var exchange = new ScramServerExchange(Pencil, plus: false, tls: false);
        Assert.Equal(ServerFirst, exchange.ServerFirst(ClientFirst, ServerNonce));
        var (serverFinal, clientKey) = exchange.Finish(ClientFinal, null)!.Value;
        Assert.Equal(ServerFinal, serverFinal);
        Assert.Equal(Pencil.StoredKey, SHA256.HashData(clientKey));
    }

    [Fact]
    public void A_stored_secret_round_trips_and_malformed_ones_are_no_verifier()
    {
        var parsed = ScramVerifier.TryParse(Pencil.ToString());
        Assert.NotNull(parsed);
        Assert.Equal(Pencil.Iterations, parsed.Iterations);
        Assert.Equal(Pencil.Salt, parsed.Salt);
        Assert.Equal(Pencil.StoredKey, parsed.StoredKey);
        Assert.Equal(Pencil.ServerKey, parsed.ServerKey);
        foreach (var bad in new[] { "md5abcdef", "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA", "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA", "SCRAM-SHA-256$4096:!!$" + Convert.ToBase64String(new byte[32]) + ":" + Convert.ToBase64String(new byte[32]), "SCRAM-SHA-256$99999999999:c2FsdA==$x:y" })
        {
            Assert.Null(ScramVerifier.TryParse(bad));
        }
    }

    [Fact]
    public void A_wrong_proof_is_no_login_and_a_mock_verifier_fails_the_same_way_with_a_stable_salt()
    {
        var exchange = new ScramServerExchange(ScramVerifier.FromPassword("other", Pencil.Salt), plus: false, tls: false);
        exchange.ServerFirst(ClientFirst, ServerNonce);
        Assert.Null(exchange.Finish(ClientFinal, null));

        var key = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(ScramVerifier.Mock("nobody", key).Salt, ScramVerifier.Mock("nobody", key).Salt);
        Assert.NotEqual(ScramVerifier.Mock("nobody", key).Salt, ScramVerifier.Mock("somebody", key).Salt);
        var mock = new ScramServerExchange(ScramVerifier.Mock("user", key), plus: false, tls: false);
        Assert.StartsWith("r=rOprNGfwEbeRWgbNEkqO", mock.ServerFirst(ClientFirst, ServerNonce), StringComparison.Ordinal);
        Assert.Null(mock.Finish(ClientFinal, null));
    }

    [Fact]
    public void With_plus_the_binding_must_be_conmgrs_certificate_hash()
    {
        var hash = SHA256.HashData("conmgr's certificate"u8);
        var exchange = new ScramServerExchange(Pencil, plus: true, tls: true);
        exchange.ServerFirst("p=tls-server-end-point,,n=,r=abc", "def");
        var binding = Convert.ToBase64String([.. "p=tls-server-end-point,,"u8, .. hash]);
        var error = Assert.Throws<ScramException>(() => exchange.Finish($"c={Convert.ToBase64String([.. "p=tls-server-end-point,,"u8, .. new byte[32]])},r=abcdef,p={Convert.ToBase64String(new byte[32])}", hash));
        Assert.Equal("SCRAM channel binding check failed", error.Message);

        var right = new ScramServerExchange(Pencil, plus: true, tls: true);
        right.ServerFirst("p=tls-server-end-point,,n=,r=abc", "def");
        Assert.Null(right.Finish($"c={binding},r=abcdef,p={Convert.ToBase64String(new byte[32])}", hash));
    }

    [Theory]
    [InlineData(false, true, "y,,n=,r=abc", "28000", "SCRAM channel binding negotiation error")]
    [InlineData(true, true, "n,,n=,r=abc", "08P01", "malformed SCRAM message")]
    [InlineData(false, false, "p=tls-server-end-point,,n=,r=abc", "08P01", "malformed SCRAM message")]
    [InlineData(true, true, "p=tls-unique,,n=,r=abc", "08P01", "unsupported SCRAM channel-binding type \"tls-unique\"")]
    [InlineData(false, false, "n,a=admin,n=,r=abc", "0A000", "client uses authorization identity, but it is not supported")]
    [InlineData(false, false, "n,,m=ext,n=,r=abc", "0A000", "client requires an unsupported SCRAM extension")]
    [InlineData(false, false, "x,,n=,r=abc", "08P01", "malformed SCRAM message")]
    [InlineData(false, false, "n,,n=,r=", "08P01", "malformed SCRAM message")]
    [InlineData(false, false, "n,,r=abc", "08P01", "malformed SCRAM message")]
    public void A_client_first_message_postgresql_refuses_is_refused_with_its_sqlstate_and_message(bool plus, bool tls, string clientFirst, string sqlState, string message)
    {
        var error = Assert.Throws<ScramException>(() => new ScramServerExchange(Pencil, plus, tls).ServerFirst(clientFirst, "srv"));
        Assert.Equal(sqlState, error.SqlState);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "unexpected SCRAM channel-binding attribute in client-final-message")]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "malformed SCRAM message")]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", "malformed SCRAM message")]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "malformed SCRAM message")]
    public void A_client_final_message_that_does_not_fit_the_exchange_is_refused(string clientFinal, string message)
    {
        var exchange = new ScramServerExchange(Pencil, plus: false, tls: false);
        exchange.ServerFirst(ClientFirst, ServerNonce);
        Assert.Equal(message, Assert.Throws<ScramException>(() => exchange.Finish(clientFinal, null)).Message);
    }

    [Fact]
    public void Random_messages_end_in_a_scram_error_or_a_failed_proof_and_nothing_else()
    {
        var random = new Random(7677);
        string[] pieces = ["n", "y", "p", "=", ",", "r", "c", "a", "m", "biws", "abc", "tls-server-end-point", "\0", "é", new string('x', 9000)];
        for (var round = 0; round < 3000; round++)
        {
            string Message() => string.Concat(Enumerable.Range(0, random.Next(0, 12)).Select(_ => pieces[random.Next(pieces.Length)]));
            var exchange = new ScramServerExchange(Pencil, plus: random.Next(2) == 0, tls: random.Next(2) == 0);
            try
            {
                exchange.ServerFirst(Message(), "srv");
                _ = exchange.Finish(Message(), new byte[32]);
            }
            catch (ScramException)
            {
            }
        }
    }
}
