// BadInputTests.cs: hostile and vanishing peers on the proxy ports: conmgr keeps serving, and its descriptors and memory come back.
using System.Globalization;
using System.Net.Sockets;
using ConMgr.Hosting.Posix;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class BadInputTests
{
    private const int Iterations = 300;

    [Fact]
    public async Task Random_startup_packets_on_both_ports_leave_conmgr_serving_with_no_leak()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync();
        await using var _ = t;
        var pid = t.Node.Pid!.Value;
        await WarmUpAsync(rw, ro);
        var baseline = OpenFiles.Count(pid);
        var random = new Random(20261129);
        byte[][] seeds =
        [
            PgWire.StartupMessage(("user", "postgres"), ("database", "postgres")),
            PgWire.StartupMessage(("user", "postgres"), ("replication", "database")),
            PgWire.SslRequest,
            [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30],
            [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1, 0, 0, 0, 2],
        ];
        for (var i = 0; i < Iterations; i++)
        {
            using var client = await PgWire.ConnectAsync("127.0.0.1", i % 2 == 0 ? rw : ro);
            var input = Fuzz.Mutate(random, seeds[random.Next(seeds.Length)], 512);
            Assert.True(await client.SendAndDrainAsync(input, TransparentCluster.Deadline), $"input {i} ({Convert.ToHexString(input)}) was neither answered nor closed");
        }

        Assert.Equal(pid, t.Node.Pid);
        await OpenFiles.WaitBackToAsync(pid, baseline, TransparentCluster.Deadline, "conmgr");
        await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).Applications.Count == 0, TransparentCluster.Deadline, "no application connection left");
        await WarmUpAsync(rw, ro);
    }

    [Fact]
    public async Task Five_thousand_idle_connections_and_a_slowloris_do_not_stop_a_session_and_are_released()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        var pid = t.Node.Pid!.Value;
        await WarmUpAsync(rw);
        var baseline = OpenFiles.Count(pid);
        var baselineRss = RssBytes(pid);

        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 5000; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync("127.0.0.1", rw);
                idle.Add(socket);
            }

            // A slowloris: three bytes of a length word, then nothing.
            using var slow = await PgWire.ConnectAsync("127.0.0.1", rw);
            await slow.SendAsync([0, 0, 0]);

            await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).Applications.Count >= 5001, TransparentCluster.Deadline, "conmgr to hold every connection");
            await using (var session = await ProxyCluster.OpenAsync(rw))
            {
                Assert.Equal(42, await ProxyCluster.ScalarAsync<int>(session, "select 42"));
            }

            // PostgreSQL's authentication_timeout, fixed at 10 s in conmgr: the slowloris is told and closed.
            var timeout = await slow.ReadMessageAsync(TimeSpan.FromSeconds(30));
            Assert.Equal("timeout expired while waiting for the startup packet", timeout?.Fields['M']);
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }

        await OpenFiles.WaitBackToAsync(pid, baseline, TransparentCluster.Deadline, "conmgr");

        // The idle trimmer gives memory back a few seconds after a burst (docs/benchmarks.md, "Memory").
        await Poll.UntilAsync(() => RssBytes(pid) <= (baselineRss * 1.2) + (4 << 20), TimeSpan.FromSeconds(60), $"conmgr's RSS back near {baselineRss >> 20} MiB (now {RssBytes(pid) >> 20} MiB)");
    }

    [Fact]
    public async Task A_client_vanishing_mid_copy_ends_its_server_session_and_others_go_on()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        await t.Cluster.Primary.ExecuteAsync("create table sink(line text)");
        var pid = t.Node.Pid!.Value;
        await WarmUpAsync(rw);
        var baseline = OpenFiles.Count(pid);

        // psql copying from a pipe that never ends; SIGKILL leaves the COPY half done.
        await using var psql = BackgroundProcess.Start(
            "bash",
            ["-c", $"yes 'a line of copy data' | psql -X -h 127.0.0.1 -p {rw.ToString(CultureInfo.InvariantCulture)} -U postgres -c 'copy sink from stdin'"],
            RunAs.Postgres,
            Path.Combine(t.Node.Directory, "psql-copy.log"));
        const string Copying = "select count(*) from pg_stat_activity where query = 'copy sink from stdin'";
        await Poll.UntilAsync(async () => await t.Cluster.Primary.ScalarAsync<long>(Copying) == 1, TransparentCluster.Deadline, "the COPY to run");
        // Freeze the pipeline, then kill psql alone: if `yes` died first, psql would see the end of its
        // input and finish the COPY properly (a committed COPY, not a vanished client).
        ProcessTree.Signal(psql.Pid, Libc.SIGSTOP);
        foreach (var psqlPid in ProcessTree.Of(psql.Pid).Where(p => File.ReadAllText($"/proc/{p}/comm").Trim() == "psql"))
        {
            Libc.Kill(psqlPid, Libc.SIGKILL);
        }

        ProcessTree.KillAll(psql.Pid);

        await Poll.UntilAsync(async () => await t.Cluster.Primary.ScalarAsync<long>(Copying) == 0, TransparentCluster.Deadline, "the server session to end");
        await OpenFiles.WaitBackToAsync(pid, baseline, TransparentCluster.Deadline, "conmgr");
        Assert.Equal(0L, await t.Cluster.Primary.ScalarAsync<long>("select count(*) from sink"));
        await WarmUpAsync(rw);
    }

    [Fact]
    public async Task A_server_vanishing_mid_result_gives_its_client_a_connection_error_and_conmgr_goes_on()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        var pid = t.Node.Pid!.Value;
        await WarmUpAsync(rw);
        var baseline = OpenFiles.Count(pid);
        await using var connection = await ProxyCluster.OpenAsync(rw);
        var backend = await ProxyCluster.ScalarAsync<int>(connection, "select pg_backend_pid()");

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
        {
            await using var command = new NpgsqlCommand("select g, repeat('x', 1000) from generate_series(1, 10000000) g", connection);
            await using var reader = await command.ExecuteReaderAsync();
            for (var rows = 0; await reader.ReadAsync(); rows++)
            {
                if (rows == 1000)
                {
                    Libc.Kill(backend, Libc.SIGKILL);
                }
            }
        });

        Assert.NotNull(error);
        await connection.DisposeAsync();
        await OpenFiles.WaitBackToAsync(pid, baseline, TransparentCluster.Deadline, "conmgr");

        // The postmaster restarts after a backend is killed; once it accepts again, so does the port.
        await Poll.UntilAsync(
            async () =>
            {
                try
                {
                    await WarmUpAsync(rw);
                    return true;
                }
                catch (NpgsqlException)
                {
                    return false;
                }
            },
            TransparentCluster.Deadline,
            "a new session through the port");
        Assert.Equal(pid, t.Node.Pid);
    }

    private static async Task WarmUpAsync(params int[] ports)
    {
        foreach (var port in ports)
        {
            await using var connection = await ProxyCluster.OpenAsync(port);
            Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(connection, "select 1"));
        }
    }

    private static long RssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
