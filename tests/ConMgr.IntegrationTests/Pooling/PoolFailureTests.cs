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

    private static async Task<NpgsqlConnection> OpenAsync(int port, string applicationName)
    {
        var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={port.ToString(CultureInfo.InvariantCulture)};Username=app;Password={PreauthCluster.Password};Database=postgres;SSL Mode=Disable;Pooling=false;Timeout=30;Command Timeout=60;Application Name={applicationName}");
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private static Task<long> AppBackendsAsync(PreauthCluster t) =>
        t.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'");

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
        await using var next = await OpenAsync(t.ReadWritePort, "next");

        var sleeping = ScalarAsync(sleeper, "select pg_sleep(30)");
        await Poll.UntilAsync(async () => await t.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == 1, TransparentCluster.Deadline, "the sleep running");
        sleeper.Cancel();
        var cancelled = await Assert.ThrowsAsync<PostgresException>(() => sleeping);
        Assert.Equal("57014", cancelled.SqlState);

        // Finished queries, then a cancel at once, while the other client runs on the same server: its query is never hit.
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(1, await ScalarAsync(sleeper, "select 1"));
            sleeper.Cancel();
            Assert.Equal("next", await ScalarAsync(next, "select current_setting('application_name') from pg_sleep(0.01)"));
        }
    }
}
