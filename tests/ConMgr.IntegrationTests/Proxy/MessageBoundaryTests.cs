// MessageBoundaryTests.cs: a loss's error goes to the client only between two server messages; with a message half relayed, just a close.
using System.Buffers.Binary;
using System.Net.Sockets;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

/// <summary>
/// A real server never stops in the middle of a message on purpose, so here the "server" behind
/// the read-write port is a scripted one that does (<see cref="ScriptedBackend"/>: the heartbeat
/// still comes from the real primary's watchdog). It authenticates the client, answers its query with either one whole DataRow or the
/// first half of one, and falls silent. Freezing the real primary then loses the heartbeat.
/// The script speaks no SSL negotiation: backend_sslmode = disable.
/// </summary>
public sealed class MessageBoundaryTests
{
    private const int RowLength = 1000;

    [Fact]
    public async Task Between_two_messages_the_client_gets_the_loss_error_after_the_last_whole_message()
    {
        var (received, closed) = await LoseHeartbeatAfterAsync(wholeRow: true);

        Assert.True(received.Length > 5 + RowLength - 4, $"only {received.Length} bytes");
        Assert.Equal((byte)'D', received[0]);
        Assert.Equal((byte)'E', received[5 + RowLength - 4]);
        var error = new WireMessage('E', received[(5 + RowLength - 4 + 5)..]);
        Assert.Equal("57P01", error.Fields['C']);
        Assert.Contains("conmgr lost the heartbeat of instance 0", error.Fields['M'], StringComparison.Ordinal);
        Assert.True(closed);
    }

    [Fact]
    public async Task With_a_message_half_relayed_the_client_connection_is_just_closed()
    {
        var (received, closed) = await LoseHeartbeatAfterAsync(wholeRow: false);

        // Exactly the half message, and nothing after it: an ErrorResponse there would be read as the row's remaining bytes.
        Assert.Equal(5 + RowLength / 2, received.Length);
        Assert.Equal((byte)'D', received[0]);
        Assert.True(closed);
    }

    /// <summary>Everything the client received after its query, up to the close (or 30 s), and whether the connection was closed.</summary>
    private static async Task<(byte[] Received, bool Closed)> LoseHeartbeatAfterAsync(bool wholeRow)
    {
        await using var backend = await ScriptedBackend.StartAsync("disable");

        using var client = await PgWire.ConnectAsync("127.0.0.1", backend.ReadWritePort);
        await client.SendAsync(PgWire.StartupMessage(("user", "postgres"), ("database", "postgres")));
        using var server = PgWire.Adopt(await backend.Server.AcceptSocketAsync().WaitAsync(TransparentCluster.Deadline));
        var length = await server.ReadExactlyAsync(4, TransparentCluster.Deadline) ?? throw new InvalidOperationException("no startup message");
        Assert.NotNull(await server.ReadExactlyAsync(BinaryPrimitives.ReadInt32BigEndian(length) - 4, TransparentCluster.Deadline));
        await server.SendAsync([.. PgWire.Message('R', [0, 0, 0, 0]), .. PgWire.Message('K', [0, 0, 0x30, 0x39, 1, 2, 3, 4]), .. PgWire.Message('Z', [(byte)'I'])]);
        foreach (var expected in "RKZ")
        {
            Assert.Equal(expected, (await client.ReadMessageAsync(TransparentCluster.Deadline))!.Type);
        }

        var query = PgWire.Query("select 1");
        await client.SendAsync(query);
        Assert.NotNull(await server.ReadExactlyAsync(query.Length, TransparentCluster.Deadline));
        var row = PgWire.Message('D', new byte[RowLength - 4]);
        await server.SendAsync(wholeRow ? row : row[..(5 + RowLength / 2)]);
        var first = await client.ReadExactlyAsync(wholeRow ? row.Length : 5 + RowLength / 2, TransparentCluster.Deadline);
        Assert.NotNull(first);

        backend.Cluster.Primary.Freeze();
        try
        {
            var rest = new List<byte>();
            var buffer = new byte[4096];
            using var cts = new CancellationTokenSource(TransparentCluster.Deadline);
            var closed = false;
            try
            {
                while (true)
                {
                    var read = await client.Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                    if (read == 0)
                    {
                        closed = true;
                        break;
                    }

                    rest.AddRange(buffer.AsSpan(0, read).ToArray());
                }
            }
            catch (SocketException)
            {
                closed = true;
            }

            return ([.. first, .. rest], closed);
        }
        finally
        {
            backend.Cluster.Primary.Thaw();
        }
    }
}
