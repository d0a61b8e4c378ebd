// ConMgrPortTests.cs: conmgr's port answers every kind of input with a clean error or a clean close; max_connections.
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Listener;

public sealed class ConMgrPortTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private ConMgrNode _node = null!;

    public async Task InitializeAsync()
    {
        _node = await ConMgrNode.CreateAsync("backend_hostaddr0 = '127.0.0.1'\nlog_min_messages = log\nmax_connections = 2\n");
        await _node.StartAsync();
    }

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task Startup_message_gets_a_fatal_error_until_the_resolve_protocol_exists()
    {
        using var client = await PgWire.ConnectAsync("127.0.0.1", _node.Port);

        await client.SendAsync(PgWire.StartupMessage(("user", "app"), ("database", "shop")));

        var error = await client.ReadMessageAsync(Deadline);
        Assert.Equal('E', error!.Type);
        Assert.Equal("0A000", error.Fields['C']);
        Assert.Null(await client.ReadMessageAsync(Deadline));
    }

    [Fact]
    public async Task Ssl_request_is_declined_like_a_postmaster_without_ssl()
    {
        using var client = await PgWire.ConnectAsync("::1", _node.Port);

        await client.SendAsync(PgWire.SslRequest);
        var answer = await client.ReadExactlyAsync(1, Deadline);
        await client.SendAsync(PgWire.StartupMessage(("user", "app")));

        Assert.Equal((byte)'N', answer![0]);
        Assert.Equal("0A000", (await client.ReadMessageAsync(Deadline))!.Fields['C']);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("\u007f\u00ff\u00ff\u00ff garbage")]
    [InlineData("\0\0\0\u0004")]
    public async Task Garbage_gets_a_protocol_violation_and_a_close(string garbage)
    {
        using var client = await PgWire.ConnectAsync("127.0.0.1", _node.Port);

        await client.SendAsync(System.Text.Encoding.Latin1.GetBytes(garbage));

        var error = await client.ReadMessageAsync(Deadline);
        Assert.Equal('E', error!.Type);
        Assert.Equal("08P01", error.Fields['C']);
        Assert.Equal("invalid length of startup packet", error.Fields['M']);
        Assert.Null(await client.ReadMessageAsync(Deadline));
    }

    [Fact]
    public async Task Oversized_startup_packet_is_refused_before_it_is_read()
    {
        using var client = await PgWire.ConnectAsync("127.0.0.1", _node.Port);

        await client.SendAsync([0x00, 0x10, 0x00, 0x00, 0, 3, 0, 0]);

        Assert.Equal("08P01", (await client.ReadMessageAsync(Deadline))!.Fields['C']);
    }

    [Fact]
    public async Task Slow_client_sending_one_byte_at_a_time_still_gets_its_answer()
    {
        using var client = await PgWire.ConnectAsync("127.0.0.1", _node.Port);
        var packet = PgWire.StartupMessage(("user", "app"), ("_pq_.conmgr_resolve", "1.0"), ("_pq_.conmgr_target_session_attrs", "read-write"));

        foreach (var b in packet)
        {
            await client.SendAsync([b]);
            await Task.Delay(5); // the pacing is the input under test, not a synchronisation
        }

        var first = await client.ReadMessageAsync(Deadline);
        Assert.Equal('S', first!.Type);
        var refusal = await client.ReadMessageAsync(Deadline);
        Assert.Equal("08001", refusal!.Fields['C']);
        Assert.Contains("no instance matches target_session_attrs=read-write", refusal.Fields['M'], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_that_vanishes_mid_packet_leaves_conmgr_serving()
    {
        using (var vanishing = await PgWire.ConnectAsync("127.0.0.1", _node.Port))
        {
            await vanishing.SendAsync([0, 0, 0, 40, 0, 3]);
        }

        using var client = await PgWire.ConnectAsync("127.0.0.1", _node.Port);
        await client.SendAsync(PgWire.StartupMessage(("user", "app")));

        Assert.Equal('E', (await client.ReadMessageAsync(Deadline))!.Type);
    }

    [Fact]
    public async Task Over_max_connections_the_connection_is_closed_without_a_message_and_logged()
    {
        using var first = await PgWire.ConnectAsync("127.0.0.1", _node.Port);
        using var second = await PgWire.ConnectAsync("127.0.0.1", _node.Port);
        await Poll.UntilAsync(async () => (await _node.StatusAsync()).Applications.Count == 2, Deadline, "two registered applications");

        using var third = await PgWire.ConnectAsync("127.0.0.1", _node.Port);

        Assert.True(await third.ClosedWithoutDataAsync(Deadline));
        await Poll.UntilAsync(() => _node.Log.Contains("LOG:  too many connections (max_connections = 2)", StringComparison.Ordinal), Deadline, "the LOG line");

        first.Dispose();
        await Poll.UntilAsync(async () => (await _node.StatusAsync()).Applications.Count == 1, Deadline, "the slot to be freed");
        using var fourth = await PgWire.ConnectAsync("127.0.0.1", _node.Port);
        await fourth.SendAsync(PgWire.StartupMessage(("user", "app")));
        Assert.Equal('E', (await fourth.ReadMessageAsync(Deadline))!.Type);
    }
}
