// PoolFailureTests.cs: pooling keeps conmgr's fast failure: a lost instance ends every pooled client with 57P01 and empties its pool; a cancel reaches only the query it was meant for.
using System.Diagnostics;
using System.Globalization;
using ConMgr.IntegrationTests.Preauth;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Pooling;

public sealed class PoolFailureTests
{
    private const string AllScram = "host all all 127.0.0.1/32 scram-sha-256\n";

    private static Task<NpgsqlConnection> OpenAsync(int port, string applicationName) => PooledClients.OpenAsync(port, applicationName);

    private static Task<object?> ScalarAsync(NpgsqlConnection connection, string sql) => PooledClients.ScalarAsync<object?>(connection, sql);

    private static Task<long> AppBackendsAsync(PreauthCluster t) => PooledClients.AppBackendsAsync(t.Primary);

    [Fact]
    public async Task A_lost_instance_ends_two_hundred_pooled_clients_with_57P01_inside_and_between_transactions_and_closes_its_pool()
    {
        await using var t = await PreauthCluster.StartAsync(AllScram, "server_pool_mode = transaction\nread_write_max_server_connections = 5\n");
        var clients = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 200; i++)
            {
                clients.Add(await OpenAsync(t.ReadWritePort, $"c{i}"));
            }

            // One client inside a transaction holds a server; the others are between transactions.
            await using var inside = await clients[0].BeginTransactionAsync();
            await ScalarAsync(clients[0], "select 1");
            foreach (var client in clients.Skip(1).Take(20))
            {
                await ScalarAsync(client, "select 1");
            }

            Assert.True(await AppBackendsAsync(t) is > 0 and <= 5);
            var watchdog = t.Primary.WatchdogPid ?? throw new InvalidOperationException("no watchdog");
            var stopwatch = Stopwatch.StartNew();
            Hosting.Posix.Libc.Kill(watchdog, Hosting.Posix.Libc.SIGSTOP);
            try
            {
                await t.Cluster.Node.WaitInstanceAsync(0, i => i.Heartbeat != "up", TransparentCluster.Deadline, "the heartbeat lost");
                var lostAfter = stopwatch.Elapsed;

                // Every client has its FATAL already: its next use fails at once with it, none hangs.
                foreach (var client in clients)
                {
                    var error = await Assert.ThrowsAnyAsync<Exception>(() => ScalarAsync(client, "select 1"));
                    var state = (error as PostgresException)?.SqlState ?? (error.InnerException as PostgresException)?.SqlState;
                    Assert.True(state == "57P01", $"{client.ConnectionString}: {error}");
                }

                Assert.True(stopwatch.Elapsed - lostAfter < TimeSpan.FromSeconds(10), $"the clients took {stopwatch.Elapsed - lostAfter} to fail");

                // The pool kept nothing of the instance: its server connections end (the server is alive; conmgr closed them).
                await Poll.UntilAsync(async () => await AppBackendsAsync(t) == 0, TransparentCluster.Deadline, "the pool's server connections closed");
            }
            finally
            {
                Hosting.Posix.Libc.Kill(watchdog, Hosting.Posix.Libc.SIGCONT);
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_cancel_ends_the_clients_long_query_and_never_the_next_clients_on_the_same_server()
    {
        await using var t = await PreauthCluster.StartAsync(AllScram, "server_pool_mode = transaction\nread_write_max_server_connections = 1\n");
        await using var sleeper = await OpenAsync(t.ReadWritePort, "sleeper");
        await using (var command = new NpgsqlCommand("select pg_sleep(30)", sleeper))
        {
            var sleeping = command.ExecuteScalarAsync();
            await Poll.UntilAsync(async () => await t.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == 1, TransparentCluster.Deadline, "the sleep running");
            command.Cancel();
            // Npgsql reports its own cancel as an OperationCanceledException around the server's 57014.
            var cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => sleeping);
            Assert.Equal("57014", (cancelled.InnerException as PostgresException)?.SqlState);
        }

        // A raw client fires its cancel as its short query ends, again and again, while another client's
        // queries run on the same (only) server connection: those are never cancelled.
        using var racer = await PgWire.ConnectAsync("127.0.0.1", t.ReadWritePort);
        await racer.SendAsync(PgWire.StartupMessage(("user", "app"), ("database", "postgres")));
        var scram = new ScramClient(racer, PreauthCluster.Password);
        Assert.True(await scram.StartAsync(Timeout));
        await scram.FinishAsync(Timeout);
        var key = (await racer.ReadUntilReadyAsync(Timeout)).Single(m => m.Type == 'K').Body;
        await using var other = await OpenAsync(t.ReadWritePort, "other");
        using var stop = new CancellationTokenSource();
        var otherRuns = Task.Run(async () =>
        {
            var runs = 0;
            while (!stop.IsCancellationRequested)
            {
                await ScalarAsync(other, "select pg_sleep(0.002)");
                runs++;
            }

            return runs;
        });

        var random = new Random(2324);
        for (var i = 0; i < 200; i++)
        {
            await racer.SendAsync(PgWire.Query("select pg_sleep(0.001)"));
            if (random.Next(2) == 0)
            {
                await Task.Delay(random.Next(3));
            }

            using (var cancel = await PgWire.ConnectAsync("127.0.0.1", t.ReadWritePort))
            {
                await cancel.SendAsync([0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, .. key]);
                Assert.True(await cancel.ClosedWithoutDataAsync(Timeout));
            }

            var answer = await racer.ReadUntilReadyAsync(Timeout);
            Assert.Equal('Z', answer[^1].Type);
        }

        await stop.CancelAsync();
        Assert.True(await otherRuns > 0);
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
}
