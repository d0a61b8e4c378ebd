// LeaseBadInputTests.cs: what a conmgr writes on a connection's kept socket (its lease) is hostile input too: any of it ends the connection cleanly, fuzzed.
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Faults;

/// <summary>
/// A scripted conmgr names a real primary, then writes something on the lease: a proper loss
/// report, a message of the wrong type, lengths out of range, random bytes, half a message. The
/// client must treat each as the end of that connection (its command fails, <c>Lost</c> fires
/// with a reason), never crash, hang or read past the limit, and the next open must work.
/// </summary>
public sealed class LeaseBadInputTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private PgCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0 });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Anything_conmgr_writes_on_a_lease_ends_that_connection_with_a_reason_and_the_next_open_works()
    {
        var random = new Random(20261130);
        var report = ScriptedPeer.FatalError("57P01", "instance 0 is lost");
        var inputs = new List<LeaseInput>
        {
            new(report, false, "57P01: instance 0 is lost"),
            new([(byte)'Z', 0, 0, 0, 5, (byte)'I'], false, "unexpected message 'Z' from conmgr"),
            new([(byte)'E', 0x7f, 0xff, 0xff, 0xff], false, "invalid message length 2147483647"),
            new([(byte)'E', 0, 0, 0, 3], false, "invalid message length 3"),
            new([(byte)'E', 0, 1, 0, 2], false, "invalid message length 65538"),
            new(report[..7], true, "in the middle of a message"),
            new([], true, "conmgr closed the connection"),
        };
        for (var i = 0; i < 25; i++)
        {
            inputs.Add(new LeaseInput(Fuzz.Mutate(random, report, 96), true, null));
        }

        var current = inputs[0];
        var primary = _cluster.Primary;
        await using var conmgr = ScriptedPeer.Start(async (socket, _) =>
        {
            await socket.SendAsync(ScriptedPeer.ResolveAnswer(primary.Host, primary.Port, 0, "primary", 1));
            var (bytes, closeAfter, _) = Volatile.Read(ref current);
            if (bytes.Length > 0)
            {
                await socket.SendAsync(bytes);
            }

            if (!closeAfter)
            {
                await ScriptedPeer.WaitForCloseAsync(socket);
            }
        });
        await using var source = ConMgrDataSource.Create($"Host={conmgr.Endpoint};Username=postgres;Database=postgres;Target Session Attributes=read-write;Timeout=5;Pooling=false");

        foreach (var input in inputs)
        {
            Volatile.Write(ref current, input);
            await using var connection = await source.OpenConnectionAsync();
            var channel = connection.GetConMgrChannel()!;

            await Poll.UntilAsync(() => channel.Lost.IsCancellationRequested, Deadline, "the lease's input to end the connection");

            Assert.False(string.IsNullOrEmpty(channel.LostReason));
            if (input.Reason is { } reason)
            {
                Assert.Contains(reason, channel.LostReason, StringComparison.Ordinal);
            }

            var error = await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await new NpgsqlCommand("select 1", connection).ExecuteScalarAsync());
            Assert.True(error.IsTransient);
        }
    }

    private sealed record LeaseInput(byte[] Bytes, bool CloseAfter, string? Reason);
}
