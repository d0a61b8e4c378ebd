// ScriptedPeerTests.cs: the client library against scripted fake peers: garbage, a conmgr that dies mid-answer, one that never answers.
using System.Diagnostics;
using System.Text;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

/// <summary>
/// Edge cases a real conmgr or postmaster does not produce on demand. Each fake reads the
/// startup message, then plays its script; the client must come back with a clear, transient
/// error naming the host, never hang past its Timeout.
/// </summary>
public sealed class ScriptedPeerTests
{
    [Fact]
    public async Task Garbage_answer_is_reported_for_that_host()
    {
        await using var fake = ScriptedPeer.Start(async socket => await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\n\r\n")));

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await Open(fake.Endpoint, timeoutSeconds: 5));

        Assert.True(error.IsTransient);
        Assert.Contains($"{fake.Endpoint}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("invalid message length", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Conmgr_dying_in_the_middle_of_its_answer_is_reported()
    {
        await using var fake = ScriptedPeer.Start(async socket =>
        {
            await socket.SendAsync(ScriptedPeer.ParameterStatus("conmgr_protocol", "1.0"));
            await socket.SendAsync(ScriptedPeer.ParameterStatus("conmgr_instance_host", "127.0.0.1")[..7]);
        });

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await Open(fake.Endpoint, timeoutSeconds: 5));

        Assert.Contains("closed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Peer_that_never_answers_costs_at_most_the_timeout()
    {
        await using var fake = ScriptedPeer.Start(_ => Task.Delay(TimeSpan.FromSeconds(3)));
        var watch = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await Open(fake.Endpoint, timeoutSeconds: 1));

        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
        Assert.Contains($"{fake.Endpoint}: timeout after 1 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_first_message_type_is_reported()
    {
        await using var fake = ScriptedPeer.Start(async socket => await socket.SendAsync(new byte[] { (byte)'X', 0, 0, 0, 4 }));

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await Open(fake.Endpoint, timeoutSeconds: 5));

        Assert.Contains("unexpected answer 'X'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_message_is_refused_not_buffered()
    {
        await using var fake = ScriptedPeer.Start(async socket => await socket.SendAsync(new byte[] { (byte)'S', 0x7F, 0xFF, 0xFF, 0xFF }));

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await Open(fake.Endpoint, timeoutSeconds: 5));

        Assert.Contains("invalid message length", error.Message, StringComparison.Ordinal);
    }

    private static async Task Open(string endpoint, int timeoutSeconds)
    {
        await using var source = ConMgrDataSource.Create($"Host={endpoint};Username=app;Database=app;Timeout={timeoutSeconds}");
        await using var connection = await source.OpenConnectionAsync();
    }
}
