// AuthenticationBuildersTests.cs: the authentication messages conmgr writes and reads for preauth, at their boundaries and under a bounded fuzz.
using System.Buffers.Binary;
using System.Text;
using ConMgr.Protocol.Postgres;
using ConMgr.Testing;

namespace ConMgr.UnitTests.Protocol;

public sealed class AuthenticationBuildersTests
{
    [Fact]
    public void What_conmgr_writes_it_reads_back()
    {
        Assert.True(AuthenticationMessages.TryReadMechanisms(AuthenticationMessages.Sasl(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]), out var mechanisms));
        Assert.Equal(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], mechanisms);

        var initial = AuthenticationMessages.SaslInitialResponse("SCRAM-SHA-256", "n,,n=,r=abc"u8);
        Assert.True(AuthenticationMessages.TryReadSaslInitialData(initial, out var mechanism, out var data));
        Assert.Equal("SCRAM-SHA-256", mechanism);
        Assert.Equal("n,,n=,r=abc", Encoding.ASCII.GetString(data!));

        Assert.True(AuthenticationMessages.TryReadPassword(AuthenticationMessages.Response("hunter2"u8, nulTerminated: true), out var password));
        Assert.Equal("hunter2", password);
        Assert.Equal("c=biws", Encoding.ASCII.GetString(AuthenticationMessages.SaslResponseData(AuthenticationMessages.Response("c=biws"u8))));

        var md5 = AuthenticationMessages.Request(AuthenticationCodes.Md5Password, [1, 2, 3, 4]);
        Assert.Equal(AuthenticationCodes.Md5Password, AuthenticationMessages.RequestCode(md5));
        Assert.Equal([1, 2, 3, 4], AuthenticationMessages.RequestData(md5).ToArray());
        Assert.Equal(md5.Length - 1, BinaryPrimitives.ReadInt32BigEndian(md5.AsSpan(1)));
    }

    public static TheoryData<byte[]> BadMechanismLists => new()
    {
        AuthenticationMessages.Request(AuthenticationCodes.Sasl),                            // no list at all
        AuthenticationMessages.Request(AuthenticationCodes.Sasl, [0]),                       // an empty list
        AuthenticationMessages.Request(AuthenticationCodes.Sasl, "SCRAM-SHA-256"u8),         // no terminator
        AuthenticationMessages.Request(AuthenticationCodes.Sasl, "SCRAM-SHA-256\0"u8),       // no final NUL
        AuthenticationMessages.Request(AuthenticationCodes.Sasl, "SCRAM-SHA-256\0\0x"u8),    // bytes after the list
    };

    [Theory]
    [MemberData(nameof(BadMechanismLists))]
    public void A_malformed_mechanism_list_is_refused(byte[] message) =>
        Assert.False(AuthenticationMessages.TryReadMechanisms(message, out _));

    public static TheoryData<byte[]> BadPasswords => new()
    {
        new byte[] { (byte)'p', 0, 0, 0, 4 },                                 // no text, no NUL
        new byte[] { (byte)'p', 0, 0, 0, 6, (byte)'a', (byte)'b' },          // no NUL
        new byte[] { (byte)'p', 0, 0, 0, 7, (byte)'a', 0, (byte)'b', 0 },    // a NUL inside
        new byte[] { (byte)'Q', 0, 0, 0, 5, 0 },                              // not a 'p'
    };

    [Theory]
    [MemberData(nameof(BadPasswords))]
    public void A_malformed_password_message_is_refused(byte[] message) =>
        Assert.False(AuthenticationMessages.TryReadPassword(message, out _));

    [Fact]
    public void Random_messages_never_throw_in_any_reader()
    {
        var random = new Random(20261207);
        byte[][] valid =
        [
            AuthenticationMessages.Sasl(["SCRAM-SHA-256"]),
            AuthenticationMessages.SaslInitialResponse("SCRAM-SHA-256", "n,,n=,r=abc"u8),
            AuthenticationMessages.Response("pw"u8, nulTerminated: true),
            AuthenticationMessages.Request(AuthenticationCodes.SaslContinue, "r=x,s=y,i=1"u8),
        ];
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Fuzz.Mutate(random, valid[random.Next(valid.Length)], 256);
            _ = AuthenticationMessages.TryReadMechanisms(bytes, out _);
            _ = AuthenticationMessages.TryReadSaslInitialData(bytes, out _, out _);
            _ = AuthenticationMessages.TryReadPassword(bytes, out _);
            _ = AuthenticationMessages.SaslResponseData(bytes);
            _ = AuthenticationMessages.RequestData(bytes);
            _ = AuthenticationMessages.RequestCode(bytes);
        }
    }
}
