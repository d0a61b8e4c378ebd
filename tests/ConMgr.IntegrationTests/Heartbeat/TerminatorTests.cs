// TerminatorTests.cs: when a conmgr's heartbeat ends, the watchdog kills that host's sessions, unless another conmgr there lives.
using System.Diagnostics;
using ConMgr.Hosting.Posix;
using ConMgr.Testing;
using Npgsql;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

[Collection(TimingSensitive.Name)]
public sealed class TerminatorTests
{
    private const string SessionsFromLoopback = "select count(*) from pg_stat_activity where client_addr = '127.0.0.1' and backend_type = 'client backend'";

    [Fact]
    public async Task Conmgr_killed_with_9_gets_its_host_sessions_terminated()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link");
        await using var psql = BackgroundProcess.Start(
            "psql", ["-X", "-h", "127.0.0.1", "-p", cluster.Primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-c", "select pg_sleep(600)"], RunAs.Postgres, Path.Combine(node.Directory, "psql.log"));
        await using var session = new NpgsqlConnection(cluster.Primary.TcpConnectionString());
        await session.OpenAsync();
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(SessionsFromLoopback) == 2, Deadline, "two sessions from 127.0.0.1");

        var watch = Stopwatch.StartNew();
        Libc.Kill(node.Pid!.Value, Libc.SIGKILL);
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(SessionsFromLoopback) == 0, Deadline, "the sessions to be terminated");

        Assert.True(watch.Elapsed <= ServerDetectionBound, $"terminated after {watch.Elapsed.TotalMilliseconds:0} ms");
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var command = new NpgsqlCommand("select 1", session);
            await command.ExecuteScalarAsync();
        });
        await psql.WaitForExitAsync(Deadline);
        Assert.Contains("terminating connection due to administrator command", psql.Log, StringComparison.Ordinal);
        await Poll.UntilAsync(() => File.ReadAllText(cluster.Primary.LogFile).Contains("terminated 2 session(s) from 127.0.0.1", StringComparison.Ordinal), Deadline, "the watchdog's log line");
    }

    [Fact]
    public async Task Nothing_is_killed_while_another_conmgr_from_the_same_address_lives()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        await using var first = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await using var second = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await first.StartAsync();
        await second.StartAsync();
        await first.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the first link");
        await second.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the second link");
        await using var session = new NpgsqlConnection(cluster.Primary.TcpConnectionString());
        await session.OpenAsync();

        Libc.Kill(first.Pid!.Value, Libc.SIGKILL);
        await Poll.UntilAsync(
            () => File.ReadAllText(cluster.Primary.LogFile).Contains("not terminating sessions from 127.0.0.1: another conmgr heartbeat from that address is alive", StringComparison.Ordinal),
            Deadline,
            "the watchdog to decide");

        await using (var command = new NpgsqlCommand("select 42", session))
        {
            Assert.Equal(42, await command.ExecuteScalarAsync());
        }

        // And once the last conmgr of that address stops (normally), the sessions go.
        Assert.Equal(0, (await second.CtlAsync("stop")).ExitCode);
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(SessionsFromLoopback) == 0, Deadline, "the sessions to be terminated after a normal stop");
    }

    /// <summary>
    /// A freeze of the server host leaves conmgr's reconnection waiting in the listen backlog; after
    /// the thaw the watchdog may accept it before it handles the old link's end. That same conmgr
    /// already told its clients the sessions were lost, so they must go, every time.
    /// </summary>
    [Fact]
    public async Task After_a_freeze_and_thaw_of_the_server_the_sessions_of_the_conmgr_host_are_terminated_every_time()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        for (var round = 1; round <= 3; round++)
        {
            await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, $"round {round}: the link");
            await using var session = new NpgsqlConnection(cluster.Primary.TcpConnectionString());
            await session.OpenAsync();

            cluster.Primary.Freeze();
            try
            {
                await node.WaitInstanceAsync(0, i => i.Heartbeat == "down", Deadline, $"round {round}: conmgr to declare the frozen instance lost");

                // conmgr's next attempt connects (the frozen host's kernel accepts into the backlog) and waits for a Welcome.
                await node.WaitInstanceAsync(0, i => i.Heartbeat == "connecting", Deadline, $"round {round}: a reconnection attempt");
            }
            finally
            {
                cluster.Primary.Thaw();
            }

            await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(SessionsFromLoopback) == 0, Deadline, $"round {round}: the lost link's sessions to be terminated after the thaw");
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var command = new NpgsqlCommand("select 1", session);
                await command.ExecuteScalarAsync();
            });
        }

        Assert.DoesNotContain("another conmgr heartbeat from that address is alive", await File.ReadAllTextAsync(cluster.Primary.LogFile), StringComparison.Ordinal);
    }
}
