// PoolRerouteTests.cs: pool_failover = reroute: pooled clients between transactions go on at another eligible instance with no error; a client inside a transaction still gets 57P01.
using System.Globalization;
using ConMgr.IntegrationTests.Preauth;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Pooling;

public sealed class PoolRerouteTests
{
    private static Task<NpgsqlConnection> OpenAsync(int port, string applicationName) => PooledClients.OpenAsync(port, applicationName);

    private static Task<int> ServerPortAsync(NpgsqlConnection connection) => PooledClients.ScalarAsync<int>(connection, "select inet_server_port()");

    [Fact]
    public async Task On_the_read_only_port_clients_between_transactions_of_a_lost_standby_go_on_at_the_other_standby_with_their_settings_and_no_error()
    {
        await using var t = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\n", "server_pool_mode = transaction\nread_only_max_server_connections = 4\n", standbys: 2);
        var standbys = t.Cluster.Cluster.Standbys;
        var clients = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 12; i++)
            {
                clients.Add(await OpenAsync(t.ReadOnlyPort, $"reader{i}"));
            }

            var ports = new List<int>();
            foreach (var client in clients)
            {
                ports.Add(await ServerPortAsync(client));
            }

            // The read-only port spreads its clients: the lost standby had some.
            var lost = standbys.First(s => ports.Contains(s.Port));
            var kept = standbys.Single(s => s != lost);
            var inside = clients[ports.IndexOf(lost.Port)];
            await using var transaction = await inside.BeginTransactionAsync();
            Assert.Equal(lost.Port, await ServerPortAsync(inside));

            var watchdog = lost.WatchdogPid ?? throw new InvalidOperationException("no watchdog");
            Hosting.Posix.Libc.Kill(watchdog, Hosting.Posix.Libc.SIGSTOP);
            try
            {
                var index = t.Cluster.Cluster.Instances.ToList().IndexOf(lost);
                await t.Cluster.Node.WaitInstanceAsync(index, i => i.Heartbeat != "up", TransparentCluster.Deadline, "the standby's heartbeat lost");

                // The client inside a transaction on the lost standby: 57P01, as without pooling.
                var error = await Assert.ThrowsAnyAsync<Exception>(() => ServerPortAsync(inside));
                Assert.Equal("57P01", (error as PostgresException ?? error.InnerException as PostgresException)?.SqlState);

                // Everyone else goes on, at the standby still eligible, with its own application_name.
                for (var i = 0; i < clients.Count; i++)
                {
                    if (clients[i] == inside)
                    {
                        continue;
                    }

                    Assert.Equal(kept.Port, await ServerPortAsync(clients[i]));
                    Assert.Equal($"reader{i}", await PooledClients.ScalarAsync<string>(clients[i], "select current_setting('application_name')"));
                }

                await Poll.UntilAsync(() => t.Cluster.Node.Log.Contains("its next transaction is routed again", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's reroute in its log");
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
}
