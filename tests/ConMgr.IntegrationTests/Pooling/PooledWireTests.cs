// PooledWireTests.cs: a pooled port's message relay at its boundaries: bad lengths get 08P01 and a close, random bytes never crash conmgr nor leak a server connection, pipelines and a client that vanishes mid-message leave a clean pool.
using System.Globalization;
using ConMgr.IntegrationTests.Preauth;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Pooling;

public sealed class PooledWireTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>A raw connection logged in as app through the pooled read-write port, at its first ReadyForQuery.</summary>
    private static async Task<PgWire> LoginAsync(PreauthCluster t)
    {
        var wire = await PgWire.ConnectAsync("127.0.0.1", t.ReadWritePort);
        await wire.SendAsync(PgWire.StartupMessage(("user", "app"), ("database", "postgres")));
        var scram = new ScramClient(wire, PreauthCluster.Password);
        Assert.True(await scram.StartAsync(Timeout));
        Assert.Equal('R', (await scram.FinishAsync(Timeout))?.Type);
        var opening = await wire.ReadUntilReadyAsync(Timeout);
        Assert.Contains(opening, m => m.Type == 'K');
        Assert.Equal('Z', opening[^1].Type);
        return wire;
    }

    private static Task<long> AppBackendsAsync(PreauthCluster t) =>
        t.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'");

    [Fact]
    public async Task Message_lengths_below_four_or_past_the_servers_limit_get_08P01_and_a_close()
    {
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\n", "server_pool_mode = transaction\nread_write_max_server_connections = 2\n");
        foreach (var length in new[] { 0, 3, -1, 0x40000000, int.MaxValue })
        {
            using var wire = await LoginAsync(t);
            var header = new byte[5];
            header[0] = (byte)'Q';
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(1), length);
            await wire.SendAsync(header);
            var error = await wire.ReadMessageAsync(Timeout);
            Assert.Equal('E', error?.Type);
            Assert.Equal("08P01", error!.Fields['C']);
            Assert.Contains(length.ToString(CultureInfo.InvariantCulture), error.Fields['M'], StringComparison.Ordinal);
            Assert.True(await wire.ClosedWithoutDataAsync(Timeout));
        }

        // The largest length PostgreSQL takes is passed on: the server answers it (here: the client stops short, and vanishes).
        using (var wire = await LoginAsync(t))
        {
            await wire.SendAsync([(byte)'Q', 0x3F, 0xFF, 0xFF, 0xFF, (byte)'s', (byte)'e']);
        }

        await Poll.UntilAsync(async () => await AppBackendsAsync(t) <= 1, TransparentCluster.Deadline, "the half-sent query's server connection closed, not kept");
        using var after = await LoginAsync(t);
        await after.SendAsync(PgWire.Query("select 1"));
        Assert.Contains(await after.ReadUntilReadyAsync(Timeout), m => m.Type == 'D');
    }

    [Fact]
    public async Task A_pipeline_of_queries_and_syncs_is_answered_in_order_and_random_bytes_never_crash_conmgr_or_leak_a_server()
    {
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\n", "server_pool_mode = transaction\nread_write_max_server_connections = 2\n");
        using (var wire = await LoginAsync(t))
        {
            // Three queries in one write: three answers, then the server goes back to the pool.
            await wire.SendAsync([.. PgWire.Query("select 1"), .. PgWire.Query("select 2"), .. PgWire.Query("select 3")]);
            for (var i = 1; i <= 3; i++)
            {
                var answer = await wire.ReadUntilReadyAsync(Timeout);
                var row = answer.Single(m => m.Type == 'D');
                Assert.Equal(i.ToString(CultureInfo.InvariantCulture), System.Text.Encoding.ASCII.GetString(row.Body[6..]));
            }
        }

        var random = new Random(2323);
        for (var round = 0; round < 40; round++)
        {
            using var wire = await LoginAsync(t);
            var noise = new byte[random.Next(1, 200)];
            random.NextBytes(noise);
            if (round % 2 == 0)
            {
                // A plausible header first, so the noise reaches further in.
                noise[0] = (byte)"QPBDESHCXdcf"[random.Next(12)];
                if (noise.Length >= 5)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(noise.AsSpan(1), random.Next(4, noise.Length + 8));
                }
            }

            // Every input ends in a close once the client has said all it will, never a hang.
            Assert.True(await wire.SendAndDrainAsync(noise, Timeout), $"round {round}: conmgr did not close");
        }

        // conmgr lives, logs clients in, and its pool never went past its limit.
        Assert.True(await AppBackendsAsync(t) <= 2);
        using var last = await LoginAsync(t);
        await last.SendAsync(PgWire.Query("select 42"));
        Assert.Contains(await last.ReadUntilReadyAsync(Timeout), m => m.Type == 'D');
        Assert.Null(t.Cluster.Node.Log.Split('\n').FirstOrDefault(l => l.Contains("BUG", StringComparison.Ordinal) || l.Contains("Unhandled", StringComparison.Ordinal)));
    }
}
