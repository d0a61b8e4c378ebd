// RelayTests.cs: everything a session does passes through the proxy unchanged: prepared statements, COPY both ways, big results, LISTEN/NOTIFY, pipelining.
using System.Security.Cryptography;
using System.Text;
using ConMgr.IntegrationTests.Transparent;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class RelayTests
{
    /// <summary>A result of a little over 100 MB, rows of an int and a 960-character text.</summary>
    internal const string BigResultSql = "select g, repeat(md5(g::text), 30) from generate_series(1, 105000) g";

    [Theory]
    [InlineData("reactor")]
    [InlineData("stream")]
    public async Task Prepared_statements_copy_in_and_out_and_a_pipelined_batch_pass_through_the_read_write_port(string relay)
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0, relay: relay);
        await using var _ = t;
        await using var connection = await ProxyCluster.OpenAsync(rw);
        await using (var create = new NpgsqlCommand("create table relayed(id int, note text)", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using (var import = await connection.BeginBinaryImportAsync("copy relayed (id, note) from stdin (format binary)"))
        {
            for (var i = 1; i <= 20_000; i++)
            {
                await import.WriteRowAsync(default, i, $"row {i}");
            }

            Assert.Equal(20_000ul, await import.CompleteAsync());
        }

        await using (var prepared = new NpgsqlCommand("select note from relayed where id = $1", connection))
        {
            prepared.Parameters.Add(new NpgsqlParameter { Value = 0 });
            await prepared.PrepareAsync();
            foreach (var id in new[] { 1, 777, 20_000 })
            {
                prepared.Parameters[0].Value = id;
                Assert.Equal($"row {id}", await prepared.ExecuteScalarAsync());
            }
        }

        var exported = new StringBuilder();
        using (var reader = await connection.BeginTextExportAsync("copy (select id from relayed order by id) to stdout"))
        {
            exported.Append(await reader.ReadToEndAsync());
        }

        Assert.Equal(string.Concat(Enumerable.Range(1, 20_000).Select(i => $"{i}\n")), exported.ToString());

        // A batch is sent in one write and answered in one stream of messages: pipelining.
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands = { new("select count(*) from relayed"), new("select sum(id) from relayed"), new("select max(note) from relayed") },
        };
        await using var results = await batch.ExecuteReaderAsync();
        Assert.True(await results.ReadAsync());
        Assert.Equal(20_000L, results.GetInt64(0));
        Assert.True(await results.NextResultAsync() && await results.ReadAsync());
        Assert.Equal(200_010_000m, results.GetDecimal(0));
    }

    [Theory]
    [InlineData("reactor")]
    [InlineData("stream")]
    public async Task A_100_MB_result_through_the_read_only_port_has_the_same_checksum_as_on_a_direct_connection(string relay)
    {
        var (t, _, ro) = await ProxyCluster.StartAsync(relay: relay);
        await using var _ = t;

        await using var proxied = await ProxyCluster.OpenAsync(ro);
        await using var direct = new NpgsqlConnection(t.Cluster.Standbys[0].TcpConnectionString());
        await direct.OpenAsync();

        var (proxiedBytes, proxiedHash) = await ChecksumAsync(proxied, BigResultSql);
        var (directBytes, directHash) = await ChecksumAsync(direct, BigResultSql);

        Assert.True(proxiedBytes >= 100_000_000, $"only {proxiedBytes} bytes");
        Assert.Equal(directBytes, proxiedBytes);
        Assert.Equal(directHash, proxiedHash);
    }

    [Fact]
    public async Task Listen_and_notify_through_the_read_write_port()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var _ = t;
        await using var listener = await ProxyCluster.OpenAsync(rw);
        await using var notifier = await ProxyCluster.OpenAsync(rw);
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Notification += (_, e) => received.TrySetResult($"{e.Channel}:{e.Payload}");
        await using (var listen = new NpgsqlCommand("listen proxied_channel", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }

        await using (var notify = new NpgsqlCommand("notify proxied_channel, 'hello through conmgr'", notifier))
        {
            await notify.ExecuteNonQueryAsync();
        }

        var wait = listener.WaitAsync(TransparentCluster.Deadline);
        Assert.Equal("proxied_channel:hello through conmgr", await received.Task.WaitAsync(TransparentCluster.Deadline));
        await wait;
    }

    /// <summary>Byte count and SHA-256 of the rows as <c>id|text\n</c>, the bytes every client in tests/clients hashes.</summary>
    internal static async Task<(long Bytes, string Hash)> ChecksumAsync(NpgsqlConnection connection, string sql)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var row = Encoding.UTF8.GetBytes($"{reader.GetInt32(0)}|{reader.GetString(1)}\n");
            bytes += row.Length;
            hash.AppendData(row);
        }

        return (bytes, Convert.ToHexString(hash.GetHashAndReset()));
    }
}
