// WatchdogPortFuzzTests.cs: crafted and random bytes on the watchdog port: the watchdog stays up, leaks nothing, the healthy conmgr never notices.
using System.Text;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Faults;

public sealed class WatchdogPortFuzzTests
{
    /// <summary>Connections in the bounded run; bench/ has the long one (docs/benchmarks.md, "Fuzz").</summary>
    private const int Iterations = 300;

    [Fact]
    public async Task The_overflowing_frame_header_is_refused_and_random_input_leaves_the_watchdog_and_the_healthy_link_untouched()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs, ExtraSettings = [PgCluster.Unauthenticated] });
        var port = cluster.Primary.WatchdogPort;
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the healthy link");
        var upSince = (await node.StatusAsync()).Instances[0].Since;
        var watchdog = cluster.Primary.WatchdogPid!.Value;
        var baseline = OpenFiles.Count(watchdog);
        var before = OpenFiles.Targets(watchdog);

        // The five bytes that once overflowed the length check and killed cm_watchdog with a stack overflow.
        using (var crafted = await PgWire.ConnectAsync("127.0.0.1", port))
        {
            await crafted.SendAsync([(byte)'H', 0x7F, 0xFF, 0xFF, 0xFF]);
            var refusal = await crafted.ReadMessageAsync(Deadline);
            Assert.Equal('R', refusal!.Type);
            Assert.Equal("protocol violation: invalid frame length 2147483647", Encoding.UTF8.GetString(refusal.Body));
        }

        var random = new Random(8);
        byte[][] seeds =
        [
            RawFrames.Hello(200, 1000, 77),
            [.. RawFrames.Hello(200, 1000, 78), .. RawFrames.Beat(1), .. RawFrames.Goodbye("bye")],
            RawFrames.PrimaryAttributes(1, 42),
        ];
        for (var i = 0; i < Iterations; i++)
        {
            using var client = await PgWire.ConnectAsync("127.0.0.1", port);
            var input = Fuzz.Mutate(random, seeds[random.Next(seeds.Length)], 2 * RawFrames.MaxFrameLength);
            Assert.True(await client.SendAndDrainAsync(input, Deadline), $"input {i} ({Convert.ToHexString(input)}) was neither answered nor closed");
        }

        Assert.Equal(watchdog, cluster.Primary.WatchdogPid);
        await OpenFiles.WaitBackToAsync(watchdog, baseline, Deadline, $"cm_watchdog (before:\n{string.Join("\n", before)}\n)");
        var row = (await node.StatusAsync()).Instances[0];
        Assert.Equal("up", row.Heartbeat);
        Assert.Equal(upSince, row.Since);
        Assert.DoesNotContain("exited with status", await File.ReadAllTextAsync(cluster.Primary.LogFile), StringComparison.Ordinal);
    }
}
