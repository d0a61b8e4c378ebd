// StartupTimeoutTests.cs: a client that connects and sends nothing is closed after the startup timeout.
using System.Diagnostics;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Listener;

public sealed class StartupTimeoutTests
{
    [Fact]
    public async Task Half_sent_packet_then_silence_gets_a_timeout_error_and_a_close()
    {
        await using var node = await ConMgrNode.CreateAsync("backend_hostaddr0 = '127.0.0.1'\nlog_min_messages = log\n");
        await node.StartAsync();
        using var client = await PgWire.ConnectAsync("127.0.0.1", node.Port);
        await client.SendAsync(PgWire.StartupMessage(("user", "app"))[..9]);
        var watch = Stopwatch.StartNew();

        var error = await client.ReadMessageAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("timeout expired while waiting for the startup packet", error!.Fields['M']);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(20));
        Assert.Null(await client.ReadMessageAsync(TimeSpan.FromSeconds(10)));
        await Poll.UntilAsync(async () => (await node.StatusAsync()).Applications.Count == 0, TimeSpan.FromSeconds(30), "the connection to leave the registry");
    }

    [Fact]
    public async Task Silent_client_gets_a_timeout_error_and_a_close()
    {
        await using var node = await ConMgrNode.CreateAsync("backend_hostaddr0 = '127.0.0.1'\nlog_min_messages = log\n");
        await node.StartAsync();
        using var client = await PgWire.ConnectAsync("127.0.0.1", node.Port);
        var watch = Stopwatch.StartNew();

        var error = await client.ReadMessageAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("08P01", error!.Fields['C']);
        Assert.Equal("timeout expired while waiting for the startup packet", error.Fields['M']);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(20));
        Assert.Null(await client.ReadMessageAsync(TimeSpan.FromSeconds(10)));
    }
}
