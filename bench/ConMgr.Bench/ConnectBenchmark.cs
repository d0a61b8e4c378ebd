// ConnectBenchmark.cs: connect latency through conmgr (two phases) against a direct Npgsql physical open, interleaved in one run.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.Bench;

/// <summary>
/// Open + close, N times each, alternating the two ways so drift on a shared machine hits both
/// alike: ConMgrDataSource (phase one to conmgr on loopback, phase two to the primary) and a
/// plain NpgsqlConnection to the primary with Pooling=false. Reports medians and their ratio.
/// </summary>
public static class ConnectBenchmark
{
    private static readonly TimeSpan Quiesce = TimeSpan.FromMilliseconds(25);
    private static bool s_quiesce;

    private static async Task<double> TimeAsync(Func<Task> open)
    {
        if (s_quiesce)
        {
            await Task.Delay(Quiesce);
        }

        var watch = Stopwatch.StartNew();
        await open();
        return watch.Elapsed.TotalMilliseconds;
    }

    public static async Task RunAsync(int rounds, bool quiesce)
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Launcher });
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 1s\nheartbeat_timeout = 3s\n" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");

        s_quiesce = quiesce;
        var primary = cluster.Primary;
        var direct = $"Host={primary.Host};Port={primary.Port};Username=postgres;Database=postgres;Pooling=false";
        var conmgrString = $"Host=127.0.0.1:{node.Port};Username=postgres;Database=postgres;Target Session Attributes=read-write;Pooling=false";
        await using var viaConmgr = ConMgrDataSource.Create(conmgrString);
        await using var serial = new ConMgrDataSourceBuilder(conmgrString) { OpenEarly = false }.Build();
        var directMs = new List<double>();
        var conmgrMs = new List<double>();
        var serialMs = new List<double>();
        var phaseOneMs = new List<double>();
        for (var i = -20; i < rounds; i++)
        {
            // Each closed connection leaves a backend exiting for a millisecond or so; on 2 cores that
            // would land on whichever measurement comes next. Let it finish, and alternate who goes first.
            var d = await TimeAsync(async () =>
            {
                await using var connection = new NpgsqlConnection(direct);
                await connection.OpenAsync();
            });
            var c = await TimeAsync(async () =>
            {
                await using var connection = await viaConmgr.OpenConnectionAsync();
            });
            var s = await TimeAsync(async () =>
            {
                await using var connection = await serial.OpenConnectionAsync();
            });
            var p = await TimeAsync(async () =>
            {
                using var probe = await PgWire.ConnectAsync("127.0.0.1", node.Port);
                await probe.SendAsync(PgWire.StartupMessage(("user", "postgres"), ("database", "postgres"), ("_pq_.conmgr_resolve", "1.0"), ("_pq_.conmgr_target_session_attrs", "read-write")));
                while ((await probe.ReadMessageAsync(TimeSpan.FromSeconds(5)))?.Type is 'S')
                {
                }
            });
            if (i >= 0)
            {
                directMs.Add(d);
                conmgrMs.Add(c);
                serialMs.Add(s);
                phaseOneMs.Add(p);
            }
        }

        var ratio = Stats.Percentile(conmgrMs, 50) / Stats.Percentile(directMs, 50);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"connect: {rounds} opens each, interleaved, {(quiesce ? "25 ms apart" : "back to back")} (after 20 warm-up rounds)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  direct Npgsql, Pooling=false: median {Stats.Percentile(directMs, 50):0.000} ms, p90 {Stats.Percentile(directMs, 90):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  through conmgr (two phases, OpenEarly, the default): median {Stats.Percentile(conmgrMs, 50):0.000} ms, p90 {Stats.Percentile(conmgrMs, 90):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  through conmgr (two phases, OpenEarly=false): median {Stats.Percentile(serialMs, 50):0.000} ms, p90 {Stats.Percentile(serialMs, 90):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  phase one alone (raw client):  median {Stats.Percentile(phaseOneMs, 50):0.000} ms, p90 {Stats.Percentile(phaseOneMs, 90):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  median ratio conmgr/direct = {ratio:0.000} (OpenEarly=false: {Stats.Percentile(serialMs, 50) / Stats.Percentile(directMs, 50):0.000})"));
    }
}
