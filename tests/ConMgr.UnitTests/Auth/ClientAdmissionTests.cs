// ClientAdmissionTests.cs: preauth refuses at load the rules it cannot evaluate, rather than matching them as false, and bounds the +groups a lookup asks about.
using ConMgr.Configuration;
using ConMgr.Daemon.Auth;
using AuthLookupFrame = ConMgr.Protocol.Heartbeat.AuthLookupFrame;

namespace ConMgr.UnitTests.Auth;

public sealed class ClientAdmissionTests
{
    [Theory]
    [InlineData("host samerole all 10.0.0.0/8 md5", "samerole")]
    [InlineData("host all all .example.com md5", "a host name, samehost or samenet address")]
    [InlineData("host all all samenet md5", "a host name, samehost or samenet address")]
    public void A_line_that_needs_membership_or_lookups_stops_the_load_with_its_line(string line, string what)
    {
        var path = Path.Combine(Path.GetTempPath(), $"conmgr_hba-{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, $"local all all trust\n{line}\n");
        try
        {
            var error = Assert.Throws<ConfigException>(() => ClientAdmission.Load(path));
            Assert.StartsWith($"{path}:2: {what} cannot be evaluated by conmgr", error.Message, StringComparison.Ordinal);
            Assert.EndsWith($"line: {line}", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Groups_are_collected_once_each_in_file_order_up_to_the_lookup_limit()
    {
        var path = Path.Combine(Path.GetTempPath(), $"conmgr_hba-{Guid.NewGuid():N}.conf");
        var lines = string.Join("\n", Enumerable.Range(0, AuthLookupFrame.MaxGroups).Select(i => $"host all +g{i},+g0 10.0.0.0/8 scram-sha-256"));
        File.WriteAllText(path, lines + "\n");
        try
        {
            var admission = ClientAdmission.Load(path);
            Assert.Equal(Enumerable.Range(0, AuthLookupFrame.MaxGroups).Select(i => $"g{i}"), admission.Groups);

            File.AppendAllText(path, "host all +one_too_many 10.0.0.0/8 md5\n");
            var error = Assert.Throws<ConfigException>(() => ClientAdmission.Load(path));
            Assert.StartsWith($"{path}:{AuthLookupFrame.MaxGroups + 1}: at most {AuthLookupFrame.MaxGroups} distinct +group names", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
