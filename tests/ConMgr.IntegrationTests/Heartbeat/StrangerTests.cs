// StrangerTests.cs: a stranger on the heartbeat's path or ports: slots held with long Hellos, a connect/close loop, a squatted port, an altered Hello.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

public sealed class StrangerTests
{
    /// <summary>Another loopback address: the stranger's host, beside conmgr's 127.0.0.1.</summary>
    private static readonly IPAddress StrangerAddress = IPAddress.Parse("127.0.0.2");

    private const string Rows = "select count(*) from pgx_stat_watchdog";

    [Fact]
    public async Task With_the_default_authentication_a_stranger_holding_handshakes_and_looping_connect_close_never_counts_and_a_restarted_conmgr_keeps_its_link()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            CheckAttrIntervalMs = CheckAttrIntervalMs,
            ExtraSettings = ["watchdog.max_connections_per_address = 4", "watchdog.hello_timeout = 3000"],
        });
        await cluster.Primary.ExecuteAsync("create extension watchdog");
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the authenticated link");
        var port = cluster.Primary.WatchdogPort;

        // The longest Hello there is: refused by its bounds, before any challenge.
        using (var greedy = await ConnectFromAsync(StrangerAddress, port))
        {
            await greedy.SendAsync(RawFrames.Hello(int.MaxValue, int.MaxValue, 1, minor: 3));
            var refusal = await greedy.ReadMessageAsync(Deadline);
            Assert.Equal('R', refusal!.Type);
            Assert.Equal("heartbeat_interval and heartbeat_timeout must be between 10 ms and 60 min (asked: 2147483647 ms and 2147483647 ms)", Encoding.UTF8.GetString(refusal.Body));
        }

        // Valid long Hellos that never answer the challenge: four are held (the address's share) until hello_timeout, the rest refused at once.
        var held = new List<PgWire>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var peer = await ConnectFromAsync(StrangerAddress, port);
                held.Add(peer);
                await peer.SendAsync(RawFrames.Hello(60_000, 3_600_000, 100 + i, minor: 3));
                Assert.Equal('C', (await peer.ReadMessageAsync(Deadline))!.Type);
            }

            using (var fifth = await ConnectFromAsync(StrangerAddress, port))
            {
                Assert.True(await fifth.ClosedWithoutDataAsync(Deadline));
            }

            // A connect/close loop from the stranger's address while the real conmgr restarts and reconnects.
            using var stop = new CancellationTokenSource();
            var loops = 0;
            var loop = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var peer = await ConnectFromAsync(StrangerAddress, port);
                        await peer.SendAsync(RawFrames.Hello(200, 1000, 7, minor: 3));
                    }
                    catch (SocketException)
                    {
                    }

                    loops++;
                }
            });
            Assert.Equal(0, (await node.CtlAsync("restart", "-m", "fast", "-w")).ExitCode);
            await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the restarted conmgr's link");
            var upSince = (await node.StatusAsync()).Instances[0].Since;
            await Poll.UntilAsync(() => Volatile.Read(ref loops) >= 300, Deadline, "300 rounds of the stranger's loop");
            await stop.CancelAsync();
            await loop;

            var row = (await node.StatusAsync()).Instances[0];
            Assert.Equal("up", row.Heartbeat);
            Assert.Equal(upSince, row.Since);
        }
        finally
        {
            DisposeAll(held);
        }

        // The stranger never held a slot, never showed, and its address never reached the terminator.
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(Rows) == 1, Deadline, "only the real conmgr in pgx_stat_watchdog");
        // The loop's refusals beyond the first ten of the window are summed when it ends.
        var log = string.Empty;
        await Poll.UntilAsync(
            async () => (log = await File.ReadAllTextAsync(cluster.Primary.LogFile)).Contains("more heartbeat connections refused in the last 10 s", StringComparison.Ordinal),
            Deadline,
            "the summing line of the suppressed refusals");
        Assert.DoesNotContain("heartbeat from conmgr 127.0.0.2", log, StringComparison.Ordinal);
        Assert.DoesNotContain("sessions from 127.0.0.2", log, StringComparison.Ordinal);
        Assert.Contains("connections from 127.0.0.2 are already open (watchdog.max_connections_per_address)", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unauthenticated_by_choice_a_stranger_holds_only_its_address_s_share_and_its_loop_s_lines_and_terminations_are_bounded()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            CheckAttrIntervalMs = CheckAttrIntervalMs,
            ExtraSettings = ["watchdog.max_connections_per_address = 3", "watchdog.max_heartbeat_connections = 5", PgCluster.Unauthenticated],
        });
        await cluster.Primary.ExecuteAsync("create extension watchdog");
        var port = cluster.Primary.WatchdogPort;
        // The warning comes at start, before the watchdog listens: its ready line (written once it listens) is what says the port is open.
        await Poll.UntilAsync(
            async () => await File.ReadAllTextAsync(cluster.Primary.LogFile) is var text
                && text.Contains("WARNING:  heartbeat peers are not authenticated (watchdog.secret_file = 'none'", StringComparison.Ordinal)
                && text.Contains($"ready on port {port}", StringComparison.Ordinal),
            Deadline,
            "the watchdog's warning that its peers are not authenticated, and its ready line");

        // Three long, silent links from the stranger: its whole share; a fourth is refused.
        var held = new List<PgWire>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var peer = await ConnectFromAsync(StrangerAddress, port);
                held.Add(peer);
                await peer.SendAsync(RawFrames.Hello(60_000, 3_600_000, 200 + i));
                Assert.Equal('W', (await peer.ReadMessageAsync(Deadline))!.Type);
            }

            using (var fourth = await ConnectFromAsync(StrangerAddress, port))
            {
                Assert.True(await fourth.ClosedWithoutDataAsync(Deadline));
            }

            // The real conmgr, from another address, still gets a slot.
            await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
            await node.StartAsync();
            await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the real conmgr's link beside the stranger's");
            var upSince = (await node.StatusAsync()).Instances[0].Since;
            held[^1].Dispose();
            held.RemoveAt(held.Count - 1);

            // Established links from the stranger, closed at once, 200 times: each is a lost link of 127.0.0.2.
            for (var i = 0; i < 200; i++)
            {
                // Refused when the previous one's close is not yet handled (the address's share is full): a reset.
                using var peer = await ConnectFromAsync(StrangerAddress, port);
                try
                {
                    await peer.SendAsync(RawFrames.Hello(200, 1000, 1000 + i));
                    await peer.ReadMessageAsync(Deadline);
                }
                catch (SocketException)
                {
                }
            }

            var row = (await node.StatusAsync()).Instances[0];
            Assert.Equal("up", row.Heartbeat);
            Assert.Equal(upSince, row.Since);
        }
        finally
        {
            DisposeAll(held);
        }

        // The loop's lines are rate-limited with a count; the terminations merged (far fewer than the losses).
        string log = string.Empty;
        await Poll.UntilAsync(
            async () => (log = await File.ReadAllTextAsync(cluster.Primary.LogFile)).Contains("more heartbeat link lines in the last 10 s", StringComparison.Ordinal),
            Deadline,
            "the summing line of the suppressed link lines");
        var established = Regex.Count(log, "heartbeat from conmgr 127\\.0\\.0\\.2[^\\n]* established");
        Assert.True(established <= 3 * 20, $"{established} established lines for 200 links");
        var terminations = Regex.Count(log, "terminated [0-9]+ session\\(s\\) from 127\\.0\\.0\\.2");
        Assert.True(terminations < 200, $"{terminations} termination lines for 200 losses");
    }

    [Fact]
    public async Task An_authenticated_conmgr_takes_no_attributes_from_a_squatter_on_a_watchdog_port()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        var timeline = await cluster.Primary.ScalarAsync<int>("select timeline_id from pg_control_checkpoint()");
        var systemId = await cluster.Primary.ScalarAsync<long>("select system_identifier from pg_control_system()");

        // Whatever took instance 1's watchdog port (a watchdog restart's window, another local user):
        // it claims the same server as a primary on a newer timeline, without the secret.
        await using var squatter = ScriptedPeer.Start(async socket =>
        {
            await socket.SendAsync(RawFrames.Welcome());
            await socket.SendAsync(RawFrames.PrimaryAttributes(timeline + 1, systemId));
            await ScriptedPeer.WaitForCloseAsync(socket);
        });
        var primary = cluster.Primary;
        await using var node = await ConMgrNode.CreateAsync(
            ConmgrLines + ConMgrNode.InstanceLines(cluster)
            + $"backend_hostaddr1 = '{primary.Host}'\nbackend_port1 = {primary.Port}\nwatchdog_port1 = {squatter.Port}\n");
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the real watchdog's link");
        await node.WaitInstanceAsync(1, i => i.LastError is not null && i.LastError.Contains("the watchdog did not prove the shared secret", StringComparison.Ordinal), Deadline, "the squatter refused");

        var status = await node.StatusAsync();
        Assert.NotEqual("up", status.Instances[1].Heartbeat);
        Assert.NotEqual("primary", status.Instances[1].Role);
        Assert.Equal("primary", status.Instances[0].Role);
    }

    [Fact]
    public async Task A_hello_altered_on_the_path_is_refused_by_the_watchdog()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs });
        var primary = cluster.Primary;

        // A relay on the path that turns conmgr's 200 ms interval into a minute: a stranger asking for silence.
        using var relay = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        relay.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        relay.Listen(8);
        using var stop = new CancellationTokenSource();
        var altered = 0;
        var relaying = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var conmgr = await relay.AcceptAsync(stop.Token);
                var watchdog = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await watchdog.ConnectAsync(IPAddress.Loopback, primary.WatchdogPort, stop.Token);
                _ = PumpAsync(conmgr, watchdog, alterHello: true, () => Interlocked.Increment(ref altered), stop.Token);
                _ = PumpAsync(watchdog, conmgr, alterHello: false, () => { }, stop.Token);
            }
        });
        await using var node = await ConMgrNode.CreateAsync(
            ConmgrLines + $"heartbeat_secret_file = '{cluster.HeartbeatSecretFile}'\nbackend_hostaddr0 = '{primary.Host}'\nbackend_port0 = {primary.Port}\nwatchdog_port0 = {((IPEndPoint)relay.LocalEndPoint!).Port}\n");
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.LastError is not null && i.LastError.Contains("the proof does not match this watchdog's secret (watchdog.secret_file) and the Hello received", StringComparison.Ordinal), Deadline, "the altered Hello refused");
        Assert.NotEqual("up", (await node.StatusAsync()).Instances[0].Heartbeat);
        Assert.True(Volatile.Read(ref altered) >= 1);
        await stop.CancelAsync();
        await relaying.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>Copies one direction; with <paramref name="alterHello"/>, rewrites the first frame's interval (a Hello: type, length, magic, versions, interval).</summary>
    private static async Task PumpAsync(Socket from, Socket to, bool alterHello, Action onAltered, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var first = alterHello;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    break;
                }

                if (first && read >= 5 + 12 && buffer[0] == (byte)'H')
                {
                    BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(5 + 8), 60_000);
                    onAltered();
                }

                first = false;
                await to.SendAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            to.Dispose();
            from.Dispose();
        }
    }

    private static void DisposeAll(List<PgWire> connections)
    {
        foreach (var connection in connections)
        {
            connection.Dispose();
        }
    }

    /// <summary>A connection to the watchdog from <paramref name="source"/> (another host, on loopback).</summary>
    private static async Task<PgWire> ConnectFromAsync(IPAddress source, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return PgWire.Adopt(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
