// ClientAdmissionTests.cs: preauth refuses at load the rules it cannot evaluate yet, rather than matching them as false.
using ConMgr.Configuration;
using ConMgr.Daemon.Auth;

namespace ConMgr.UnitTests.Auth;

public sealed class ClientAdmissionTests
{
    [Theory]
    [InlineData("host all +admins 10.0.0.0/8 reject", "a +group role")]
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
            Assert.StartsWith($"{path}:2: {what} cannot be evaluated by this conmgr yet", error.Message, StringComparison.Ordinal);
            Assert.EndsWith($"line: {line}", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
