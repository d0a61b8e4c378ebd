// HttpLoadBenchmark.cs: the proxy's pgbench ratio and the heartbeat's detection ratio with and without 1,000 requests/s on conmgr's HTTP port, side by side.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// Issue 10's benchmark: the HTTP port under load must not move the proxy's throughput ratio or
/// the heartbeat's detection time beyond noise. Both are measured in one run with the load off
/// and on, alternating, so drift of the shared machine falls on both.
/// </summary>
public static class HttpLoadBenchmark
{
    public static async Task RunAsync(int rounds, int seconds, int rate, int cuts)
    {
        Console.WriteLine($"http-load: {rate} requests/s (half /connection/is-ready-rw, half /metrics); proxy: {rounds} rounds of pgbench -S -c 8 -j 2 -T {seconds}; detection: {cuts} cuts");
        await ProxyAsync(rounds, seconds, rate);
        await DetectionAsync(cuts, rate);
    }

    private static async Task ProxyAsync(int rounds, int seconds, int rate)
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, ExtraSettings = ["max_connections = 100"] });
        var primary = cluster.Primary;
        var (rw, http) = (FreePort.Next(), FreePort.Next());
        await using var node = await ConMgrNode.CreateAsync($"read_write_port = {rw}\nhttp_port = {http}\nlisten_addresses = '127.0.0.1'\nheartbeat_interval = 1s\nheartbeat_timeout = 3s\nlog_min_messages = log\n" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");
        (await ProxyBenchmark.PgBenchAsync("127.0.0.1", primary.Port, ["-i", "-q", "-s", "10"])).EnsureSuccess("pgbench -i");
        var incidents = new HeartbeatIncidents(node.LogFile, primary.LogFile);

        var ratios = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        for (var round = 0; round < rounds; round++)
        {
            foreach (var loaded in round % 2 == 0 ? new[] { false, true } : [true, false])
            {
                using var stop = new CancellationTokenSource();
                var load = loaded ? HttpLoad.RunAsync("127.0.0.1", http, rate, stop.Token) : Task.FromResult(new HttpLoad.Counts());
                var direct = await TpsAsync(primary.Port, seconds);
                var proxied = await TpsAsync(rw, seconds);
                await stop.CancelAsync();
                var counts = await load;
                ratios[loaded].Add(proxied / direct);
                var achieved = loaded ? string.Create(CultureInfo.InvariantCulture, $", HTTP {counts} ({counts.Ok / (2.0 * seconds):0} ok/s)") : string.Empty;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"http-load: proxy round {round + 1} load {(loaded ? "on " : "off")}: direct {direct:0} tps, conmgr {proxied:0} tps, ratio {proxied / direct:0.000}{achieved}"));
                foreach (var line in incidents.Since())
                {
                    Console.WriteLine($"http-load: HEARTBEAT: {line}");
                }
            }
        }

        foreach (var loaded in new[] { false, true })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"http-load: proxy ratio, load {(loaded ? "on " : "off")}: median {Stats.Percentile(ratios[loaded], 50):0.000} ({string.Join(", ", ratios[loaded].Select(r => r.ToString("0.000", CultureInfo.InvariantCulture)))})"));
        }
    }

    private static async Task<double> TpsAsync(int port, int seconds)
    {
        var result = await ProxyBenchmark.PgBenchAsync("127.0.0.1", port, ["-S", "-c", "8", "-j", "2", "-n", "-T", seconds.ToString(CultureInfo.InvariantCulture)]);
        result.EnsureSuccess("pgbench");
        return ProxyBenchmark.Parse(ProxyBenchmark.TpsLine(), result.Output);
    }

    /// <summary>The detection benchmark's cut, every other one with the load generator running beside conmgr in the client namespace.</summary>
    private static async Task DetectionAsync(int cuts, int rate)
    {
        var interval = TimeSpan.FromMilliseconds(200);
        var timeout = TimeSpan.FromSeconds(1);
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(0, 1000));
        var clientHost = new RunAs("postgres", link.ClientNamespace);
        var http = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync(
            $"heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 100ms\nheartbeat_connect_timeout = 2s\nlisten_addresses = '127.0.0.1'\nhttp_port = {http}\n" + ConMgrNode.InstanceLines(cluster),
            clientHost);
        await node.StartAsync();
        var detected = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        for (var i = 0; i < cuts; i++)
        {
            var loaded = i % 2 == 1;
            await node.WaitInstanceAsync(0, s => s.Heartbeat == "up", TimeSpan.FromSeconds(30), "the link");
            await using var psql = DetectionBenchmark.StartPsql(cluster, clientHost, Path.Combine(node.Directory, $"psql{i}.log"), string.Empty);
            await DetectionBenchmark.WaitActiveAsync(cluster);
            await using var generator = loaded
                ? BackgroundProcess.Start(Path.Combine(AppContext.BaseDirectory, "cm_bench"), ["http-generate", "--port", http.ToString(CultureInfo.InvariantCulture), "--rate", rate.ToString(CultureInfo.InvariantCulture), "--seconds", "60"], new RunAs(null, link.ClientNamespace), Path.Combine(node.Directory, $"http-generate{i}.log"))
                : null;
            if (generator is not null)
            {
                // Under way at full rate before the cut.
                await Poll.UntilAsync(() => generator.Log.Contains("http-generate: 2 s", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the load generator");
            }

            await Task.Delay(Random.Shared.Next((int)interval.TotalMilliseconds));
            var watch = Stopwatch.StartNew();
            await link.CutAsync();
            detected[loaded].Add((await DetectionBenchmark.Until(async () => (await node.StatusAsync()).Instances[0].Heartbeat != "up", watch)).TotalMilliseconds);
            await link.RestoreAsync();
            var lastReport = generator?.Log.Split('\n').LastOrDefault(l => l.StartsWith("http-generate: ", StringComparison.Ordinal));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"http-load: cut {i + 1,2} load {(loaded ? "on " : "off")}: conmgr notices {detected[loaded][^1],5:0} ms{(lastReport is null ? string.Empty : $" ({lastReport})")}"));
        }

        foreach (var loaded in new[] { false, true })
        {
            var samples = detected[loaded];
            Console.WriteLine($"http-load: detection, load {(loaded ? "on " : "off")}: {Stats.Summary(samples)}; median/timeout = {Stats.Percentile(samples, 50) / timeout.TotalMilliseconds:0.000}, max/timeout = {samples.Max() / timeout.TotalMilliseconds:0.000}");
        }
    }
}
