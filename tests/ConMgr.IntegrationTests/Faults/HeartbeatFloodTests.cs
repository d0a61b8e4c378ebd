// HeartbeatFloodTests.cs: a flood of peers failing TLS and the shared secret: the authenticated conmgr keeps its link, nothing is counted, and the log stays short.
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ConMgr.IntegrationTests.Heartbeat;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Faults;

[Collection(TimingSensitive.Name)]
public sealed partial class HeartbeatFloodTests
{
    /// <summary>Failing handshakes in the run; the rate the watchdog sustains is the benchmark's (docs/benchmarks.md, "Heartbeat authentication").</summary>
    private const int Attempts = 3000;

    private const int Workers = 16;

    [Fact]
    public async Task Thousands_of_failed_handshakes_leave_the_authenticated_link_up_uncounted_and_the_log_rate_limited()
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            CheckAttrIntervalMs = CheckAttrIntervalMs,
            // No per-address bound: this floods the handshake itself, from conmgr's own address (StrangerTests covers the bound).
            ExtraSettings = [.. auth.WatchdogTls("on"), .. auth.WatchdogSecret, "watchdog.max_connections_per_address = -1"],
        });
        await cluster.Primary.ExecuteAsync("create extension watchdog");
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + auth.ConmgrTls() + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the authenticated link");
        var upSince = (await node.StatusAsync()).Instances[0].Since;
        var port = cluster.Primary.WatchdogPort;

        // Every kind of failure, as fast as 16 clients can go: a wrong proof, a TLS handshake of garbage, silence cut short.
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < Attempts)
            {
                using var peer = await PgWire.ConnectAsync("127.0.0.1", port);
                switch (next % 3)
                {
                    case 0:
                        await peer.SendAsync(RawFrames.Hello(200, 1000, next, minor: 3));
                        Assert.Equal('C', (await peer.ReadMessageAsync(Deadline))!.Type);
                        await peer.SendAsync(RawFrames.Frame('P', RandomNumberGenerator.GetBytes(64)));
                        Assert.Equal('R', (await peer.ReadMessageAsync(Deadline))!.Type);
                        break;
                    case 1:
                        Assert.True(await peer.SendAndDrainAsync([0x16, 0x03, 0x01, 0x00, 0x20, .. RandomNumberGenerator.GetBytes(32)], Deadline));
                        break;
                    default:
                        Assert.True(await peer.SendAndDrainAsync([], Deadline));
                        break;
                }
            }
        })));

        // The link never dropped, the strangers never counted.
        var row = (await node.StatusAsync()).Instances[0];
        Assert.Equal("up", row.Heartbeat);
        Assert.Equal(upSince, row.Since);
        Assert.Equal(1, await cluster.Primary.ScalarAsync<long>("select count(*) from pgx_stat_watchdog"));

        // Every refusal is accounted for: a line each for the first few of each 10 s, one summing line for the rest.
        var log = string.Empty;
        await Poll.UntilAsync(
            () =>
            {
                log = File.ReadAllText(cluster.Primary.LogFile);
                return Task.FromResult(Accounted(log) >= Attempts);
            },
            Deadline,
            "every refusal in the watchdog's log, the suppressed ones summed when their window ends");
        var single = Regex.Count(log, "heartbeat connection from [^ ]+ refused: ");
        Assert.True(single <= 10 * 4, $"{single} single refusal lines for {Attempts} refusals");
        Assert.Contains(" more heartbeat connections refused in the last 10 s (last: 127.0.0.1:", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" lost: ", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" lost", node.Log, StringComparison.Ordinal);
    }

    /// <summary>Single refusal lines plus the counts of the summing lines.</summary>
    private static long Accounted(string log) =>
        Regex.Count(log, "heartbeat connection from [^ ]+ refused: ")
        + Summary().Matches(log).Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex("([0-9]+) more heartbeat connections refused in the last")]
    private static partial Regex Summary();
}
