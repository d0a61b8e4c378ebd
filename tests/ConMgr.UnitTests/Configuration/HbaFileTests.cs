// HbaFileTests.cs: conmgr_hba.conf is tokenized, parsed and matched with PostgreSQL's rules and messages.
using System.Net;
using ConMgr.Configuration;
using ConMgr.Configuration.Hba;

namespace ConMgr.UnitTests.Configuration;

public sealed class HbaFileTests
{
    private const string File = "/etc/conmgr/conmgr_hba.conf";

    private static readonly Func<string, string> NoIncludes = path => throw new FileNotFoundException($"no such file: {path}");

    [Fact]
    public void Quotes_commas_comments_and_continuation_lines_split_as_in_postgresql()
    {
        var lines = HbaTokenizer.Tokenize(
            "# a comment line\n\nhost  \"all\",app,\"a,b\"\t\"say \"\"hi\"\"\"  10.0.0.0/8 md5 # trailing\nlocal all \\\n  all trust\n",
            File,
            NoIncludes);

        Assert.Equal(2, lines.Count);
        Assert.Equal(3, lines[0].Number);
        Assert.Equal([new HbaToken("all", true), new HbaToken("app", false), new HbaToken("a,b", true)], lines[0].Fields[1]);
        Assert.Equal([new HbaToken("say \"hi\"", true)], lines[0].Fields[2]);
        Assert.Equal(5, lines[0].Fields.Count);
        Assert.Equal(4, lines[1].Number);
        Assert.Equal(["local", "all", "all", "trust"], lines[1].Fields.Select(f => f.Single().Text));
    }

    [Fact]
    public void An_at_file_is_replaced_by_its_tokens_relative_to_the_including_file_and_nesting_is_bounded()
    {
        var files = new Dictionary<string, string>
        {
            ["/etc/conmgr/admins"] = "alice, bob\n# comment\ncarol @more\n",
            ["/etc/conmgr/more"] = "dave",
            ["/etc/conmgr/loop"] = "@loop",
        };
        string Read(string path) => files.TryGetValue(path, out var text) ? text : throw new FileNotFoundException(path);

        var rule = HbaFile.Parse("host all @admins,erin 127.0.0.1/32 trust\n", File, Read).Rules.Single();
        Assert.Equal(["alice", "bob", "carol", "dave", "erin"], rule.Roles.Select(t => t.Text));

        var quoted = HbaFile.Parse("host all \"@admins\" 127.0.0.1/32 trust\n", File, Read).Rules.Single();
        Assert.Equal([new HbaToken("@admins", true)], quoted.Roles);

        var loop = Assert.Throws<ConfigException>(() => HbaFile.Parse("host all @loop 127.0.0.1/32 trust\n", File, Read));
        Assert.Contains("maximum nesting depth exceeded", loop.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<ConfigException>(() => HbaFile.Parse("host all @absent 127.0.0.1/32 trust\n", File, Read));
        Assert.StartsWith($"{File}:1: could not open secondary authentication file \"@absent\" as \"/etc/conmgr/absent\"", missing.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hots all all 127.0.0.1/32 trust", "invalid connection type \"hots\"")]
    [InlineData("host,local all all 127.0.0.1/32 trust", "multiple values specified for connection type")]
    [InlineData("host", "end-of-line before database specification")]
    [InlineData("host all", "end-of-line before role specification")]
    [InlineData("host all all", "end-of-line before IP address specification")]
    [InlineData("host all all 127.0.0.1/32", "end-of-line before authentication method")]
    [InlineData("host all all 127.0.0.1/33 trust", "invalid CIDR mask in address \"127.0.0.1/33\"")]
    [InlineData("host all all 127.0.0.1", "end-of-line before netmask specification")]
    [InlineData("host all all 127.0.0.1 255.0.255.0 trust", "invalid IP mask \"255.0.255.0\"")]
    [InlineData("host all all 10.0.0.0/8 kerberos", "invalid authentication method \"kerberos\"")]
    [InlineData("host all all 10.0.0.0/8 ldap", "authentication method \"ldap\" is not supported by conmgr")]
    [InlineData("host all all 10.0.0.0/8 cert", "cert authentication is only supported on hostssl connections")]
    [InlineData("host all all 10.0.0.0/8 md5 clientcert=verify-ca", "clientcert can only be configured for \"hostssl\" rows")]
    [InlineData("hostssl all all 10.0.0.0/8 cert clientcert=verify-ca", "clientcert only accepts \"verify-full\" when using \"cert\" authentication")]
    [InlineData("hostssl all all 10.0.0.0/8 md5 frobnicate=1", "unrecognized authentication option name: \"frobnicate\"")]
    [InlineData("hostssl all all 10.0.0.0/8 md5 clientcert", "authentication option not in name=value format: clientcert")]
    [InlineData("hostgssenc all all 10.0.0.0/8 md5", "connection type \"hostgssenc\" is not supported by conmgr")]
    [InlineData("host all /app_( 10.0.0.0/8 md5", "invalid regular expression \"app_(\"")]
    public void A_bad_line_is_refused_with_the_servers_message_its_file_and_line_and_its_text(string line, string message)
    {
        var error = Assert.Throws<ConfigException>(() => HbaFile.Parse($"# rules\nlocal all all trust\n{line}\n", File, NoIncludes));
        Assert.StartsWith($"{File}:3: {message}", error.Message, StringComparison.Ordinal);
        Assert.EndsWith($"line: {line}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_first_rule_that_matches_type_database_role_and_address_decides()
    {
        var rules = HbaFile.Parse(
            """
            local   all         all                        trust
            hostssl shop        +shoppers   10.1.0.0/16    scram-sha-256
            host    sameuser    all         10.2.0.0 255.255.0.0 md5
            host    "all"       /^app_\d+$  ::1/128        password
            hostnossl all       all         10.0.0.0/8     reject
            host    all         all         all            scram-sha-256
            """,
            File,
            NoIncludes).Rules;
        var members = new HashSet<(string, string)> { ("alice", "shoppers"), ("shoppers", "shoppers") };
        var matcher = new HbaMatcher(rules, (role, group) => role == group || members.Contains((role, group)));
        int? LineOf(HbaClient client) => matcher.Match(client)?.LineNumber;

        Assert.Equal(1, LineOf(new HbaClient(Local: true, Ssl: false, null, "shop", "anyone")));
        Assert.Equal(2, LineOf(new HbaClient(false, true, IPAddress.Parse("10.1.2.3"), "shop", "alice")));
        Assert.Equal(5, LineOf(new HbaClient(false, false, IPAddress.Parse("10.1.2.3"), "shop", "alice")));
        Assert.Equal(6, LineOf(new HbaClient(false, true, IPAddress.Parse("10.1.2.3"), "shop", "bob")));
        Assert.Equal(3, LineOf(new HbaClient(false, false, IPAddress.Parse("::ffff:10.2.9.9"), "carol", "carol")));
        Assert.Equal(5, LineOf(new HbaClient(false, false, IPAddress.Parse("10.2.9.9"), "shop", "carol")));

        // A quoted "all" is a database named all; the regex is on the role.
        Assert.Equal(6, LineOf(new HbaClient(false, false, IPAddress.IPv6Loopback, "shop", "app_12")));
        Assert.Equal(4, LineOf(new HbaClient(false, false, IPAddress.IPv6Loopback, "all", "app_12")));
        Assert.Equal(6, LineOf(new HbaClient(false, false, IPAddress.IPv6Loopback, "all", "app_x")));
    }

    [Fact]
    public void Without_a_matching_rule_there_is_no_entry()
    {
        var rules = HbaFile.Parse("host all all 127.0.0.1/32 trust\n", File, NoIncludes).Rules;
        Assert.Null(new HbaMatcher(rules, (_, _) => false).Match(new HbaClient(false, false, IPAddress.Parse("127.0.0.2"), "db", "u")));
        Assert.Null(new HbaMatcher(rules, (_, _) => false).Match(new HbaClient(true, false, null, "db", "u")));
    }

    [Fact]
    public void Random_text_gives_rules_or_a_configuration_error_and_nothing_else()
    {
        var random = new Random(20261207);
        string[] words = ["host", "hostssl", "local", "all", "\"all\"", "+g", "/x", "@f", "127.0.0.1/32", "::1/128", "10.0.0.1", "255.0.0.0", "md5", "cert", "trust", "clientcert=verify-ca", "map=m", ",", "\"", "#", "\\", "\n", " ", "\t"];
        for (var round = 0; round < 5000; round++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(1, 30)).Select(_ => random.Next(4) == 0 ? ((char)random.Next(0, 0x3000)).ToString() : words[random.Next(words.Length)]));
            try
            {
                var file = HbaFile.Parse(text, File, _ => "alice bob");
                _ = new HbaMatcher(file.Rules, (_, _) => true).Match(new HbaClient(false, true, IPAddress.Loopback, "db", "alice"));
            }
            catch (ConfigException)
            {
            }
        }
    }
}
