// WebMixBenchmark.cs: a web-like read/write mix through a failover: ConMgrDataSource against Npgsql's multi-host data source, side by side on one cluster.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.Bench;

/// <summary>
/// One primary + standby and one conmgr. Two clients run at once, each with N workers: ConMgr
/// (a read-write and a prefer-standby ConMgrDataSource) and Npgsql (one multi-host data source
/// over primary and standby, with <c>WithTargetSession(ReadWrite)</c> and <c>(PreferStandby)</c>).
/// Every request opens a pooled connection: 70 % read the newest row on the read target, 30 %
/// insert a row on the write target; no retries, and a failed request pauses its worker 10 ms
/// so failing fast does not inflate the count. Midway the primary stops (immediate) and the
/// standby is promoted. Reported per client: requests completed and failed by kind, and how long
/// writes were unavailable (from the stop to the first write that succeeded after it).
/// </summary>
public static class WebMixBenchmark
{
    public static async Task RunAsync(int seconds, int workers, int failoverAtSeconds)
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 1, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = 1000 });
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 200ms\nheartbeat_connect_timeout = 1s\n" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(1, s => s.Role == "standby", TimeSpan.FromSeconds(30), "the standby's link");
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");
        var (primary, standby) = (cluster.Primary, cluster.Standbys[0]);
        await primary.ExecuteAsync("create table bench_mix (id bigint generated always as identity primary key, payload text not null); insert into bench_mix (payload) values ('seed')");

        const string common = "Username=postgres;Database=postgres;Timeout=2;Command Timeout=10";
        // CM_BENCH_TRACE=1: the write data source's log (ConMgr.Client's and Npgsql's) around the failover, with times.
        using var trace = new RecordingLoggerFactory();
        var traced = Environment.GetEnvironmentVariable("CM_BENCH_TRACE") == "1";
        await using var conmgrWrites = new ConMgrDataSourceBuilder($"Host=127.0.0.1:{node.Port};{common};Target Session Attributes=read-write").UseLoggerFactory(traced ? trace : null).Build();
        await using var conmgrReads = ConMgrDataSource.Create($"Host=127.0.0.1:{node.Port};{common};Target Session Attributes=prefer-standby");
        await using var multiHost = new NpgsqlDataSourceBuilder($"Host={primary.Host}:{primary.Port},{standby.Host}:{standby.Port};{common}").BuildMultiHost();
        var clients = new[]
        {
            new Client("ConMgrDataSource", ct => conmgrReads.OpenConnectionAsync(ct), ct => conmgrWrites.OpenConnectionAsync(ct)),
            new Client("Npgsql multi-host", ct => multiHost.OpenConnectionAsync(TargetSessionAttributes.PreferStandby, ct), ct => multiHost.OpenConnectionAsync(TargetSessionAttributes.ReadWrite, ct)),
        };

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"web-mix: {seconds} s, {workers} workers per client, 70 % reads (prefer-standby) / 30 % writes (read-write), primary stopped and standby promoted at {failoverAtSeconds} s; heartbeat 200 ms / 1 s, check_attr_interval 1 s, Npgsql Host Recheck Seconds 10 (its default)"));
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var load = clients.SelectMany(c => Enumerable.Range(0, workers).Select(w => c.WorkAsync(new Random(w), clock, stop.Token))).ToList();

        await Task.Delay(TimeSpan.FromSeconds(failoverAtSeconds));
        await primary.StopAsync("immediate");
        var stoppedAt = clock.Elapsed;
        var stoppedTimestamp = Stopwatch.GetTimestamp();
        await standby.ExecuteAsync("select pg_promote(wait => true)");
        var promotedAt = clock.Elapsed;
        await Task.WhenAll(load);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"primary stopped at {stoppedAt.TotalSeconds:0.000} s, standby promoted at {promotedAt.TotalSeconds:0.000} s"));
        foreach (var client in clients)
        {
            Console.WriteLine(client.Report(stoppedAt, promotedAt));
        }

        foreach (var entry in traced ? trace.Entries.Where(e => e.Timestamp >= stoppedTimestamp && Stopwatch.GetElapsedTime(stoppedTimestamp, e.Timestamp) < TimeSpan.FromSeconds(1)) : [])
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  +{Stopwatch.GetElapsedTime(stoppedTimestamp, entry.Timestamp).TotalMilliseconds,7:0.0} ms {entry.Category} {entry.EventId.Id} {entry.Message}"));
        }
    }

    private sealed class Client(string name, Func<CancellationToken, ValueTask<NpgsqlConnection>> openRead, Func<CancellationToken, ValueTask<NpgsqlConnection>> openWrite)
    {
        private readonly Lock _lock = new();
        private readonly List<(TimeSpan At, bool Write, bool Ok)> _requests = [];

        public async Task WorkAsync(Random random, Stopwatch clock, CancellationToken stop)
        {
            await Task.Yield();
            while (!stop.IsCancellationRequested)
            {
                var write = random.NextDouble() < 0.3;
                bool ok;
                try
                {
                    await using var connection = await (write ? openWrite : openRead)(CancellationToken.None);
                    await using var command = new NpgsqlCommand(write ? "insert into bench_mix (payload) values ('x')" : "select payload from bench_mix order by id desc limit 1", connection);
                    await command.ExecuteScalarAsync(CancellationToken.None);
                    ok = true;
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
                {
                    ok = false;
                }

                lock (_lock)
                {
                    _requests.Add((clock.Elapsed, write, ok));
                }

                if (!ok)
                {
                    await Task.Delay(10, CancellationToken.None);
                }
            }
        }

        public string Report(TimeSpan stoppedAt, TimeSpan promotedAt)
        {
            lock (_lock)
            {
                int Count(bool write, bool ok) => _requests.Count(r => r.Write == write && r.Ok == ok);
                var firstWrite = _requests.Where(r => r.Write && r.Ok && r.At > stoppedAt).Select(r => (TimeSpan?)r.At).FirstOrDefault();
                var firstRead = _requests.Where(r => !r.Write && r.Ok && r.At > stoppedAt).Select(r => (TimeSpan?)r.At).FirstOrDefault();
                string Gap(TimeSpan? first, TimeSpan from) => first is { } at ? $"{(at - from).TotalMilliseconds:0} ms" : "never";
                return string.Create(CultureInfo.InvariantCulture, $"  {name,-18} reads ok {Count(false, true),7} failed {Count(false, false),5}; writes ok {Count(true, true),7} failed {Count(true, false),5}; first write after the stop: +{Gap(firstWrite, stoppedAt)} (+{Gap(firstWrite, promotedAt)} after the promotion); first read after the stop: +{Gap(firstRead, stoppedAt)}");
            }
        }
    }
}
