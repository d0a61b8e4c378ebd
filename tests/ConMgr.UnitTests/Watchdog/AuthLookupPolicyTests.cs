// AuthLookupPolicyTests.cs: what the watchdog answers a lookup with, for every kind of role and policy, and watchdog.auth_lookup_roles' syntax.
using ConMgr.Protocol.Heartbeat;
using ConMgr.Watchdog.Auth;

namespace ConMgr.UnitTests.Watchdog;

public sealed class AuthLookupPolicyTests
{
    private const string Scram = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$c3RvcmVkc3RvcmVkc3RvcmVkc3RvcmVkc3RvcmVkMTI=:c2VydmVyc2VydmVyc2VydmVyc2VydmVyc2VydmVyMTI=";
    private const string Md5 = "md54a0a68b43b6cd5cf266fa02f196e2371";

    private static readonly byte[] Key = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];

    private static readonly AuthLookupFrame Request = new(9, "alice", ["readers", "writers"]);

    private static LookupRow Row(string? password = Scram, bool superuser = false, bool canLogin = true, bool expired = false, bool allowed = true) =>
        new(superuser, canLogin, password, expired, [false, true], allowed);

    public static TheoryData<string, LookupRow?, AuthLookupPolicy, AuthLookupStatus> Cases => new()
    {
        { "a login role with a SCRAM secret", Row(), AuthLookupPolicy.Default, AuthLookupStatus.Found },
        { "no such role", null, AuthLookupPolicy.Default, AuthLookupStatus.NoSuchRole },
        { "no password", Row(password: null), AuthLookupPolicy.Default, AuthLookupStatus.NoPassword },
        { "an md5 hash without auth_lookup_md5", Row(password: Md5), AuthLookupPolicy.Default, AuthLookupStatus.NoPassword },
        { "an md5 hash with auth_lookup_md5", Row(password: Md5), AuthLookupPolicy.Default with { Md5 = true }, AuthLookupStatus.Found },
        { "an expired password", Row(expired: true), AuthLookupPolicy.Default, AuthLookupStatus.Expired },
        { "a superuser by default", Row(superuser: true), AuthLookupPolicy.Default, AuthLookupStatus.Refused },
        { "a superuser with auth_lookup_superuser", Row(superuser: true), AuthLookupPolicy.Default with { Superuser = true }, AuthLookupStatus.Found },
        { "a role outside auth_lookup_roles", Row(allowed: false), new AuthLookupPolicy(["bob"], false, false), AuthLookupStatus.Refused },
        { "a NOLOGIN role (its password is checked first)", Row(canLogin: false), AuthLookupPolicy.Default, AuthLookupStatus.Found },
        { "a secret too long for a frame", Row(password: "SCRAM-SHA-256$" + new string('x', AuthLookupAnswerFrame.MaxSecretBytes)), AuthLookupPolicy.Default, AuthLookupStatus.NoPassword },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_kind_of_role_gets_its_status_and_only_found_carries_its_secret(string what, LookupRow? row, AuthLookupPolicy policy, AuthLookupStatus expected)
    {
        var answer = AuthLookupService.Judge(Request, row, policy, Key);

        Assert.True(expected == answer.Status, what);
        Assert.Equal(Request.RequestId, answer.RequestId);
        if (expected == AuthLookupStatus.Found)
        {
            Assert.Equal(row!.Value.Password, answer.Secret);
        }
        else
        {
            Assert.NotEqual(row?.Password, answer.Secret);
            Assert.StartsWith("SCRAM-SHA-256$4096:", answer.Secret, StringComparison.Ordinal);
        }

        Assert.Equal(row is null ? 0 : 0b10, answer.Membership);
        Assert.True(answer.PayloadLength + HeartbeatCodec.HeaderLength <= HeartbeatCodec.MaxFrameLength);
    }

    [Fact]
    public void A_mock_salt_is_the_same_for_the_same_name_and_key_and_unpredictable_without_the_key()
    {
        static string SaltOf(string secret) => secret.Split('$')[1].Split(':')[1];

        Assert.Equal(SaltOf(AuthLookupService.MockSecret("nobody", Key)), SaltOf(AuthLookupService.MockSecret("nobody", Key)));
        Assert.NotEqual(SaltOf(AuthLookupService.MockSecret("nobody", Key)), SaltOf(AuthLookupService.MockSecret("somebody", Key)));
        Assert.NotEqual(SaltOf(AuthLookupService.MockSecret("nobody", Key)), SaltOf(AuthLookupService.MockSecret("nobody", new byte[32])));

        // The keys are random each time: a mock never proves anything.
        Assert.NotEqual(AuthLookupService.MockSecret("nobody", Key), AuthLookupService.MockSecret("nobody", Key));
    }

    [Theory]
    [InlineData("", new string[0])]
    [InlineData("app", new[] { "app" })]
    [InlineData(" App , +Readers,\"Mixed Case\", \"+quoted\" ", new[] { "app", "+readers", "Mixed Case", "+quoted" })]
    [InlineData("+\"Group, with comma\"", new[] { "+Group, with comma" })]
    [InlineData("\"a\"\"b\"", new[] { "a\"b" })]
    public void Auth_lookup_roles_reads_like_a_postgresql_list(string text, string[] expected) =>
        Assert.Equal(expected, AuthLookupPolicy.ParseRoles(text));

    [Theory]
    [InlineData("app,,bob", "empty role name")]
    [InlineData("\"unterminated", "unterminated quoted name")]
    [InlineData("\"a\" b", "expected a comma")]
    public void A_bad_auth_lookup_roles_is_refused_with_a_reason(string text, string reason) =>
        Assert.Contains(reason, Assert.Throws<FormatException>(() => AuthLookupPolicy.ParseRoles(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void The_policy_splits_names_from_groups()
    {
        var policy = new AuthLookupPolicy(AuthLookupPolicy.ParseRoles("app, +readers"), false, false);

        Assert.Equal(["app"], policy.Names);
        Assert.Equal(["readers"], policy.Groups);
        Assert.Equal("watchdog.auth_lookup_roles: app, +readers, SCRAM secrets only", policy.Describe());
    }
}
