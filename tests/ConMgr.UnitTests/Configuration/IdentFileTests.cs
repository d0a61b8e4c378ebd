// IdentFileTests.cs: conmgr_ident.conf read as pg_ident.conf: exact names, regular expressions with \1, maps kept apart, and PostgreSQL's errors.
using ConMgr.Configuration;
using ConMgr.Configuration.Hba;

namespace ConMgr.UnitTests.Configuration;

public sealed class IdentFileTests
{
    private static IdentFile Parse(string text) => IdentFile.Parse(text, "/etc/conmgr/conmgr_ident.conf", _ => throw new FileNotFoundException());

    [Fact]
    public void Names_match_exactly_and_case_sensitively_within_their_map()
    {
        var ident = Parse("# comment\npeople alice app\npeople \"Bob\" bob\nadmins alice postgres\n");

        Assert.True(ident.Matches("people", "alice", "app"));
        Assert.False(ident.Matches("people", "Alice", "app"));
        Assert.True(ident.Matches("people", "Bob", "bob"));
        Assert.False(ident.Matches("people", "alice", "postgres"));
        Assert.True(ident.Matches("admins", "alice", "postgres"));
        Assert.False(ident.Matches("nosuchmap", "alice", "app"));
    }

    [Fact]
    public void A_regular_expression_puts_its_first_group_where_the_user_name_says_backslash_one()
    {
        var ident = Parse("m /^(.*)@example\\.com$ \\1\nm /^svc-.*$ service\n");

        Assert.True(ident.Matches("m", "alice@example.com", "alice"));
        Assert.False(ident.Matches("m", "alice@example.com", "bob"));
        Assert.False(ident.Matches("m", "alice@example.org", "alice"));
        Assert.True(ident.Matches("m", "svc-billing", "service"));
    }

    [Theory]
    [InlineData("m alice\n", "missing entry at end of line")]
    [InlineData("m alice app extra\n", "extra field at end of line")]
    [InlineData("m alice,bob app\n", "multiple values in ident field")]
    [InlineData("m /(unclosed app\n", "invalid regular expression")]
    public void A_bad_line_is_refused_with_its_file_and_line(string text, string message)
    {
        var error = Assert.Throws<ConfigException>(() => Parse("# maps\n" + text));

        Assert.StartsWith($"/etc/conmgr/conmgr_ident.conf:2: {message}", error.Message, StringComparison.Ordinal);
        Assert.EndsWith($"line: {text.Trim()}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_holds_no_maps() =>
        Assert.Empty(IdentFile.Load(Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}.conf")).Lines);
}
