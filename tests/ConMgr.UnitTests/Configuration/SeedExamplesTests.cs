// SeedExamplesTests.cs: every conmgr.conf example of the seed (chapter 2.1.2) loads, or fails, as the seed says.
using ConMgr.Configuration;

namespace ConMgr.UnitTests.Configuration;

public sealed class SeedExamplesTests
{
    public static TheoryData<string, string> ValidExamples => new()
    {
        {
            "two instances",
            "backend_host0='host0'\nbackend_port0=5432\nbackend_host1='host1'\nbackend_port1=2345\n"
        },
        {
            "instance numbers mixed",
            "backend_host0='host0'\nbackend_host1='host1'\nbackend_port0=5432\nbackend_port1=2345\n"
        },
    };

    [Theory]
    [MemberData(nameof(ValidExamples))]
    public void Two_instance_examples_load_identically(string name, string text)
    {
        var settings = ConMgrConfigLoader.Load(text, name).Settings;

        Assert.Equal(
            [new InstanceSettings(0, "host0", null, 5432, 27545), new InstanceSettings(1, "host1", null, 2345, 27545)],
            settings.Instances);
    }

    [Fact]
    public void Missing_instance_number_is_allowed()
    {
        var text = "backend_host0='host0'\nbackend_host2='host2'\nbackend_port0=5432\nbackend_port2=2345\n";

        var settings = ConMgrConfigLoader.Load(text, "conmgr.conf").Settings;

        Assert.Equal([0, 2], settings.Instances.Select(i => i.Number));
        Assert.Equal(2345, settings.Instances[1].Port);
    }

    [Fact]
    public void Instance_without_host_is_an_error_naming_file_line_and_parameter()
    {
        var text = "backend_host0='host0'\nbackend_host2='host2'\nbackend_port0=5432\nbackend_port1=5555\nbackend_port2=2345\n";

        var error = Assert.Throws<ConfigException>(() => ConMgrConfigLoader.Load(text, "/etc/cm/conmgr.conf"));

        Assert.Equal("/etc/cm/conmgr.conf", error.File);
        Assert.Equal(4, error.Line);
        Assert.Equal("backend_host1", error.Parameter);
        Assert.StartsWith("/etc/cm/conmgr.conf:4: parameter \"backend_host1\": instance 1 has no host", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_file_gives_the_seed_defaults()
    {
        var result = ConMgrConfigLoader.Load("# nothing\n", "conmgr.conf");
        var s = result.Settings;

        Assert.Equal(27546, s.Port);
        Assert.Empty(s.Instances);
        Assert.Equal(TimeSpan.FromSeconds(10), s.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(20), s.HeartbeatTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), s.HeartbeatConnectInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), s.HeartbeatConnectTimeout);
        Assert.Equal(LogDestinations.Stderr, s.LogDestination);
        Assert.Equal(SyslogFacility.Local0, s.SyslogFacility);
        Assert.Equal("conmgr", s.SyslogIdent);
        Assert.Equal(MessageLevel.Warning, s.LogMinMessages);
        Assert.Equal(0, s.MaxConnections);
        Assert.Equal(["localhost"], s.ListenAddresses);
        Assert.Equal((0, 0, 0), (s.ReadWritePort, s.ReadOnlyPort, s.HttpPort));
        Assert.Contains(result.Warnings, w => w.Contains("no instance is configured", StringComparison.Ordinal));
    }
}
