// FuzzBenchmark.cs: the long randomized fuzz of every port (watchdog, conmgr, control socket, conmgr as a heartbeat client).
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// The suite runs a bounded few hundred inputs per port; this runs for as long as asked,
/// round-robin over the four ports, with a seed printed so a failure can be replayed. At the
/// end (and every 10,000 inputs) it checks that cm_watchdog and conmgr are the same processes
/// and that their descriptor counts came back to the baseline, and that the healthy heartbeat
/// link never dropped.
/// </summary>
public static class FuzzBenchmark
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(TimeSpan duration, int seed)
    {
        Console.WriteLine($"fuzz: {duration.TotalSeconds:0} s, seed {seed}");
        var random = new Random(seed);
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher });
        byte[] answer = [.. RawFrames.Welcome(), .. RawFrames.PrimaryAttributes(1, 42), .. RawFrames.Beat(1)];
        await using var fake = ScriptedPeer.Start(async socket =>
        {
            byte[] input;
            lock (random)
            {
                input = Fuzz.Mutate(random, answer, 2 * RawFrames.MaxFrameLength);
            }

            try
            {
                await socket.SendAsync(input);
            }
            catch (SocketException)
            {
            }
        });
        await using var node = await ConMgrNode.CreateAsync(
            "heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 10ms\nheartbeat_connect_timeout = 500ms\nlog_min_messages = log\n"
            + ConMgrNode.InstanceLines(cluster)
            + $"backend_hostaddr1 = '127.0.0.1'\nbackend_port1 = 1\nwatchdog_port1 = {fake.Port.ToString(CultureInfo.InvariantCulture)}\n");
        await node.StartAsync();
        var watchdog = cluster.Primary.WatchdogPid!.Value;
        var conmgr = node.Pid!.Value;
        var since = (await node.StatusAsync()).Instances[0].Since;
        var watchdogBaseline = OpenFiles.Count(watchdog);
        var conmgrBaseline = OpenFiles.Count(conmgr) + 1; // + the fake watchdog attempt that may be open at any moment

        byte[][] heartbeatSeeds = [RawFrames.Hello(200, 1000, 77), [.. RawFrames.Hello(200, 1000, 78), .. RawFrames.Beat(1), .. RawFrames.Goodbye("bye")], RawFrames.PrimaryAttributes(1, 42)];
        byte[][] startupSeeds = [PgWire.StartupMessage(("user", "a"), ("_pq_.conmgr_resolve", "1.0"), ("_pq_.conmgr_target_session_attrs", "any")), PgWire.SslRequest, [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1, 0, 0, 0, 2]];
        var counts = new long[3];
        var watch = Stopwatch.StartNew();
        for (long i = 0; watch.Elapsed < duration; i++)
        {
            switch (i % 3)
            {
                case 0:
                    using (var client = await PgWire.ConnectAsync("127.0.0.1", cluster.Primary.WatchdogPort))
                    {
                        Require(await client.SendAndDrainAsync(Fuzz.Mutate(random, heartbeatSeeds[random.Next(heartbeatSeeds.Length)], 2 * RawFrames.MaxFrameLength), Deadline), "the watchdog neither answered nor closed");
                    }

                    break;
                case 1:
                    using (var client = await PgWire.ConnectAsync("127.0.0.1", node.Port))
                    {
                        Require(await client.SendAndDrainAsync(Fuzz.Mutate(random, startupSeeds[random.Next(startupSeeds.Length)], 512), Deadline), "conmgr neither answered nor closed");
                    }

                    break;
                default:
                    var command = new byte[random.Next(512)];
                    random.NextBytes(command);
                    Require(await PgWire.SendToControlSocketAsync(node.Paths.ControlSocket, command, Deadline), "the control socket neither answered nor closed");

                    break;
            }

            counts[i % 3]++;
            if (i % 10_000 == 9_999)
            {
                await CheckAsync();
            }
        }

        await CheckAsync();
        Console.WriteLine($"fuzz: passed: {counts[0]} watchdog inputs, {counts[1]} conmgr inputs, {counts[2]} control commands, conmgr took fuzzed frames from its fake watchdog throughout; same processes, descriptors back to baseline, healthy link never dropped");
        return 0;

        async Task CheckAsync()
        {
            Require(cluster.Primary.WatchdogPid == watchdog, "cm_watchdog was restarted");
            Require(node.Pid == conmgr, "conmgr died");
            await OpenFiles.WaitBackToAsync(watchdog, watchdogBaseline, Deadline, "cm_watchdog");
            await OpenFiles.WaitBackToAsync(conmgr, conmgrBaseline, Deadline, "conmgr");
            var row = (await node.StatusAsync()).Instances[0];
            Require(row.Heartbeat == "up" && row.Since == since, "the healthy link dropped");
        }
    }

    private static void Require(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"fuzz: FAILED: {failure}");
        }
    }
}
