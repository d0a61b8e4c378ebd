// PoolBenchmark.cs: pooled open + select 1 + close under 8 workers, ConMgrDataSource against NpgsqlDataSource, rounds alternating; and the descriptors each holds.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.Bench;

/// <summary>
/// One primary + standby, one conmgr. Per round, each data source runs for a fixed time with N
/// workers, each in a loop: open (from the pool), <c>select 1</c>, close. The two alternate who
/// goes first. Reported: operations per second (median of rounds), the time ratio ConMgr/Npgsql,
/// and, once warm, the file descriptors and conmgr connections each pool holds.
/// </summary>
public static class PoolBenchmark
{
    public static async Task RunAsync(int rounds, int seconds, int workers)
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Launcher });
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 1s\nheartbeat_timeout = 3s\n" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");

        var primary = cluster.Primary;
        await using var npgsql = NpgsqlDataSource.Create($"Host={primary.Host};Port={primary.Port};Username=postgres;Database=postgres");
        await using var conmgr = ConMgrDataSource.Create($"Host=127.0.0.1:{node.Port};Username=postgres;Database=postgres;Target Session Attributes=read-write");
        var ways = new (string Name, Func<CancellationToken, ValueTask<NpgsqlConnection>> Open)[]
        {
            ("NpgsqlDataSource", ct => npgsql.OpenConnectionAsync(ct)),
            ("ConMgrDataSource", ct => conmgr.OpenConnectionAsync(ct)),
        };

        // Warm both pools to the worker count, and count the sockets each holds: to PostgreSQL, to conmgr.
        await RunAsync(ways[0].Open, workers, TimeSpan.FromSeconds(2));
        var npgsqlSockets = SocketsTo(primary.Port);
        await RunAsync(ways[1].Open, workers, TimeSpan.FromSeconds(2));
        var conmgrServerSockets = SocketsTo(primary.Port) - npgsqlSockets;
        var conmgrSockets = SocketsTo(node.Port);
        var conmgrConnections = (await node.StatusAsync()).Applications.Count;

        var rates = ways.ToDictionary(w => w.Name, _ => new List<double>());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pool: {rounds} rounds of {seconds} s per data source, {workers} workers, open + select 1 + close, alternating who goes first"));
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (name, open) in round % 2 == 0 ? ways : ways.Reverse())
            {
                var operations = await RunAsync(open, workers, TimeSpan.FromSeconds(seconds));
                rates[name].Add(operations / (double)seconds);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round + 1}: NpgsqlDataSource {rates["NpgsqlDataSource"][^1],8:0} ops/s, ConMgrDataSource {rates["ConMgrDataSource"][^1],8:0} ops/s"));
        }

        var npgsqlRate = Stats.Percentile(rates["NpgsqlDataSource"], 50);
        var conmgrRate = Stats.Percentile(rates["ConMgrDataSource"], 50);

        // Each round's two runs sit side by side in time: the median of the per-round ratios is what drift on a shared machine disturbs least.
        var ratios = rates["NpgsqlDataSource"].Zip(rates["ConMgrDataSource"], (n, c) => n / c).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median: NpgsqlDataSource {npgsqlRate:0} ops/s ({1e6 / npgsqlRate * workers:0.0} µs per operation per worker), ConMgrDataSource {conmgrRate:0} ops/s ({1e6 / conmgrRate * workers:0.0} µs)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"time ratio ConMgr/Npgsql: median of the rounds' ratios {Stats.Percentile(ratios, 50):0.000} (ratio of the medians {npgsqlRate / conmgrRate:0.000}; goal <= 1.10)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sockets held by the warm pools: NpgsqlDataSource {npgsqlSockets} to PostgreSQL; ConMgrDataSource {conmgrServerSockets} to PostgreSQL + {conmgrSockets} to conmgr (conmgr lists {conmgrConnections} application connections)"));
    }

    private static async Task<long> RunAsync(Func<CancellationToken, ValueTask<NpgsqlConnection>> open, int workers, TimeSpan duration)
    {
        using var stop = new CancellationTokenSource(duration);
        long operations = 0;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await using var connection = await open(CancellationToken.None);
                await using var command = new NpgsqlCommand("select 1", connection);
                await command.ExecuteScalarAsync();
                Interlocked.Increment(ref operations);
            }
        })));
        return operations;
    }

    /// <summary>This process's TCP sockets (file descriptors) connected to loopback port <paramref name="port"/>, from /proc/net/tcp, tcp6 (dual-mode sockets) and /proc/self/fd.</summary>
    private static int SocketsTo(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1).Concat(File.ReadLines("/proc/net/tcp6").Skip(1)))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 9 && int.Parse(fields[2].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
            {
                inodes.Add(fields[9]);
            }
        }

        return new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
            .Select(fd => fd.LinkTarget)
            .Count(target => target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]));
    }
}
