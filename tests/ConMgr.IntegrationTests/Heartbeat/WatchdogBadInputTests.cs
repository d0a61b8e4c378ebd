// WatchdogBadInputTests.cs: garbage, oversized frames, silent clients and a flood on the watchdog port; the healthy conmgr never notices.
using System.Diagnostics;
using System.Text;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

public sealed class WatchdogBadInputTests
{
    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Bad_clients_are_closed_or_refused_and_the_healthy_conmgr_keeps_its_link()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            CheckAttrIntervalMs = CheckAttrIntervalMs,
            ExtraSettings = ["watchdog.hello_timeout = 1000", "watchdog.max_heartbeat_connections = 3", PgCluster.Unauthenticated],
        });
        var port = cluster.Primary.WatchdogPort;
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the healthy link");
        var upSince = (await node.StatusAsync()).Instances[0].Since;

        // Garbage: "GET" starts like a Goodbye frame with an absurd length.
        using (var http = await PgWire.ConnectAsync("127.0.0.1", port))
        {
            await http.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            var refusal = await http.ReadMessageAsync(Deadline);
            Assert.Equal('R', refusal!.Type);
            Assert.StartsWith("protocol violation: invalid frame length", Encoding.UTF8.GetString(refusal.Body), StringComparison.Ordinal);
            Assert.Null(await http.ReadMessageAsync(Deadline));
        }

        // An oversized frame is refused from its header, before any payload arrives.
        using (var oversized = await PgWire.ConnectAsync("127.0.0.1", port))
        {
            await oversized.SendAsync([(byte)'H', 0, 1, 0, 0]);
            Assert.Equal('R', (await oversized.ReadMessageAsync(Deadline))!.Type);
            Assert.Null(await oversized.ReadMessageAsync(Deadline));
        }

        // A Hello asking for a 1 ms interval would make the watchdog beat a thousand times a second: refused.
        using (var greedy = await PgWire.ConnectAsync("127.0.0.1", port))
        {
            await greedy.SendAsync(RawFrames.Hello(1, 1000, 5));
            var refusal = await greedy.ReadMessageAsync(Deadline);
            Assert.Equal('R', refusal!.Type);
            Assert.Equal("heartbeat_interval and heartbeat_timeout must be between 10 ms and 60 min (asked: 1 ms and 1000 ms)", Encoding.UTF8.GetString(refusal.Body));
        }

        // A client that connects and says nothing is closed after watchdog.hello_timeout.
        using (var silent = await PgWire.ConnectAsync("127.0.0.1", port))
        {
            var watch = Stopwatch.StartNew();
            Assert.True(await silent.ClosedWithoutDataAsync(Deadline));
            Assert.InRange(watch.Elapsed, HelloTimeout - TimeSpan.FromMilliseconds(100), HelloTimeout + TimeSpan.FromSeconds(1));
        }

        // A flood: silent clients take no slot (only an admitted Hello does). The conmgr holds one of three
        // slots; with three silent clients connected, two more Hellos are welcomed and a third is refused.
        var silentOnes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => PgWire.ConnectAsync("127.0.0.1", port)));
        var hellos = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => PgWire.ConnectAsync("127.0.0.1", port)));
        try
        {
            var answers = new List<WireMessage?>();
            foreach (var (client, n) in hellos.Select((c, n) => (c, n)))
            {
                await client.SendAsync(RawFrames.Hello(200, 1000, 100 + n));
                answers.Add(await client.ReadMessageAsync(Deadline));
            }

            Assert.Equal("WWR", string.Concat(answers.Select(a => a?.Type)));
            Assert.Equal("too many heartbeat connections (max_heartbeat_connections = 3)", Encoding.UTF8.GetString(answers[2]!.Body));
            foreach (var silentOne in silentOnes)
            {
                Assert.True(await silentOne.ClosedWithoutDataAsync(Deadline), "a silent client is closed after its hello timeout, without a refusal");
            }
        }
        finally
        {
            foreach (var client in silentOnes.Concat(hellos))
            {
                client.Dispose();
            }
        }

        var row = (await node.StatusAsync()).Instances[0];
        Assert.Equal("up", row.Heartbeat);
        Assert.Equal(upSince, row.Since);
        Assert.DoesNotContain(" lost:", node.Log, StringComparison.Ordinal);
        var serverLog = await File.ReadAllTextAsync(cluster.Primary.LogFile);
        Assert.Contains("refused: too many heartbeat connections (max_heartbeat_connections = 3)", serverLog, StringComparison.Ordinal);
        Assert.Contains("refused: no hello within 1 s", serverLog, StringComparison.Ordinal);
    }
}
