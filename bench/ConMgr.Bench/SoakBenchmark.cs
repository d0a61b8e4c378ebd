// SoakBenchmark.cs: hours of load at 200 ms / 1 s with sleeping sessions from conmgr's host that a false loss would kill; then real cuts.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// The false-loss soak of issue 21 (docs/benchmarks.md, "Heartbeat soak"). Server host and conmgr's
/// host are two network namespaces joined by a veth pair, as in the link-cut tests: a primary and a
/// standby with their launched watchdogs in one, conmgr (heartbeat 200 ms / 1 s, read-write port)
/// and sleeping psql sessions in the other. Each phase runs one load for its duration:
/// <list type="bullet">
/// <item><c>unix</c>: pgbench on the server host over the Unix socket;</item>
/// <item><c>proxy</c>: pgbench on conmgr's host through conmgr's read-write port;</item>
/// <item><c>hogs</c>: busy-loop processes, twice the core count, plus the <c>unix</c> pgbench;</item>
/// <item><c>storm</c>: <c>pgbench -C</c> (a new connection per transaction) through the read-write port;</item>
/// <item><c>rt</c>: one <c>chrt -f 50</c> busy loop (a real-time hog on one core) plus the <c>unix</c> pgbench.</item>
/// </list>
/// After each phase: heartbeat incidents in conmgr's and the servers' logs (any is a false loss),
/// pause lines, the worst wake lateness of each heartbeat thread in the phase (from the
/// <c>heartbeat_thread_wake_lateness_seconds</c> histograms), and whether every sleeping session
/// is still the same backend. After the phases, real cuts must still be detected within the bound.
/// </summary>
public static class SoakBenchmark
{
    private const string SleeperName = "soak-sleeper";
    private static readonly string[] PauseMarkers = ["process pause detected"];

    public static async Task<int> RunAsync(TimeSpan phase, string phases, TimeSpan interval, TimeSpan timeout, int sleepers, int cuts)
    {
        var names = phases.Split(',', StringSplitOptions.RemoveEmptyEntries);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"soak: phases {string.Join(", ", names)}, {phase.TotalMinutes:0.#} min each; heartbeat_interval {interval.TotalMilliseconds} ms, heartbeat_timeout {timeout.TotalMilliseconds} ms; {sleepers} sleeping psql sessions from conmgr's host; {Environment.ProcessorCount} cores"));
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(1, 1000) with { WatchdogHttp = true, ExtraSettings = ["max_connections = 200", $"watchdog.program = '{RepoPaths.Executable("cm_watchdog")}'"] });
        var conmgrHost = new RunAs("postgres", link.ClientNamespace);
        var serverHost = new RunAs("postgres", link.ServerNamespace);
        var rw = FreePort.Next();
        var http = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync(
            string.Create(CultureInfo.InvariantCulture, $"read_write_port = {rw}\nhttp_port = {http}\nlisten_addresses = '127.0.0.1'\nheartbeat_interval = {interval.TotalMilliseconds}ms\nheartbeat_timeout = {timeout.TotalMilliseconds}ms\nheartbeat_connect_interval = 100ms\nbackend_sslmode = disable\n") + ConMgrNode.InstanceLines(cluster),
            conmgrHost);
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary" && s.Heartbeat == "up", TimeSpan.FromSeconds(30), "the primary's link");
        await node.WaitInstanceAsync(1, s => s.Role == "standby" && s.Heartbeat == "up", TimeSpan.FromSeconds(30), "the standby's link");
        (await PgBench(cluster.Primary.SocketDirectory, cluster.Primary.Port, RunAs.Postgres, ["-i", "-q", "-s", "10"])).EnsureSuccess("pgbench -i");

        var logs = new List<string> { node.LogFile };
        foreach (var instance in cluster.Instances)
        {
            logs.Add(instance.LogFile);
            logs.Add(instance.WatchdogLogFile);
        }

        var incidents = new HeartbeatIncidents(logs.ToArray());
        var pauses = new LogLines(PauseMarkers, logs.ToArray());
        var scrapes = new (string Name, RunAs Host, string Url)[]
        {
            ("conmgr", new RunAs(null, link.ClientNamespace), $"http://127.0.0.1:{http}/metrics"),
            ("primary's watchdog", new RunAs(null, link.ServerNamespace), $"http://{NetworkLink.ServerAddress}:{cluster.Primary.WatchdogHttpPort}/metrics"),
            ("standby's watchdog", new RunAs(null, link.ServerNamespace), $"http://{NetworkLink.ServerAddress}:{cluster.Standbys[0].WatchdogHttpPort}/metrics"),
        };

        var sessions = new List<BackgroundProcess>();
        for (var i = 0; i < sleepers; i++)
        {
            var conninfo = $"host={NetworkLink.ServerAddress} port={cluster.Primary.Port} user=postgres dbname=postgres application_name={SleeperName}";
            sessions.Add(BackgroundProcess.Start("psql", ["-X", conninfo, "-c", "select pg_sleep(86400)"], conmgrHost, Path.Combine(node.Directory, $"sleeper{i}.log")));
        }

        var sleeperQuery = $"select coalesce(string_agg(pid::text, ',' order by pid), '') from pg_stat_activity where application_name = '{SleeperName}' and client_addr = '{NetworkLink.ClientAddress}' and state = 'active'";
        await Poll.UntilAsync(async () => (await cluster.Primary.ScalarAsync<string>(sleeperQuery)).Split(',', StringSplitOptions.RemoveEmptyEntries).Length == sleepers, TimeSpan.FromSeconds(30), "the sleeping sessions");
        var sleeperPids = await cluster.Primary.ScalarAsync<string>(sleeperQuery);

        var falseLosses = 0;
        var before = await ScrapeAllAsync(scrapes);
        try
        {
            foreach (var name in names)
            {
                var watch = Stopwatch.StartNew();
                var load = await RunPhaseAsync(name, phase, cluster, rw, conmgrHost, serverHost, node.Directory);
                var after = await ScrapeAllAsync(scrapes);
                var lost = incidents.Since();
                var paused = pauses.Since();
                var nowPids = await cluster.Primary.ScalarAsync<string>(sleeperQuery);
                var survived = nowPids == sleeperPids && sessions.All(s => !s.HasExited);
                falseLosses += lost.Count + (survived ? 0 : 1);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"phase {name} ({watch.Elapsed.TotalMinutes:0.0} min): {load}"));
                Console.WriteLine($"  heartbeat incidents (false losses): {lost.Count}; pause lines: {paused.Count}; sleeping sessions {(survived ? "all kept (same backends)" : $"NOT kept: backends {sleeperPids} then {nowPids}")}");
                for (var i = 0; i < scrapes.Length; i++)
                {
                    Console.WriteLine($"  {scrapes[i].Name}'s heartbeat thread: {Lateness.Describe(before[i], after[i])}");
                }

                foreach (var line in lost.Concat(paused).Take(20))
                {
                    Console.WriteLine($"    {line}");
                }

                before = after;
            }
        }
        finally
        {
            foreach (var session in sessions)
            {
                await session.DisposeAsync();
            }

            // A killed psql leaves its backend in pg_sleep (it reads the socket only when it next writes).
            await cluster.Primary.ExecuteAsync($"select pg_terminate_backend(pid) from pg_stat_activity where application_name = '{SleeperName}'");
        }

        Console.WriteLine($"soak: {falseLosses} false loss(es) in {names.Length} phase(s)");
        await RealCutsAsync(link, cluster, node, conmgrHost, cuts, interval, timeout);
        return falseLosses == 0 ? 0 : 1;
    }

    private static async Task<string> RunPhaseAsync(string name, TimeSpan phase, PgCluster cluster, int rw, RunAs conmgrHost, RunAs serverHost, string directory)
    {
        var seconds = ((int)phase.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var primary = cluster.Primary;
        Task<ProcessResult> Unix() => PgBench(primary.SocketDirectory, primary.Port, serverHost, ["-c", "8", "-j", "2", "-T", seconds]);
        var hogs = new List<BackgroundProcess>();
        try
        {
            Task<ProcessResult> bench;
            switch (name)
            {
                case "unix":
                    bench = Unix();
                    break;
                case "proxy":
                    bench = PgBench("127.0.0.1", rw, conmgrHost, ["-c", "8", "-j", "2", "-T", seconds]);
                    break;
                case "hogs":
                    for (var i = 0; i < 2 * Environment.ProcessorCount; i++)
                    {
                        hogs.Add(BackgroundProcess.Start("/bin/sh", ["-c", "while :; do :; done"], RunAs.Self, Path.Combine(directory, "hog.log")));
                    }

                    bench = Unix();
                    break;
                case "storm":
                    bench = PgBench("127.0.0.1", rw, conmgrHost, ["-C", "-S", "-c", "8", "-j", "2", "-T", seconds]);
                    break;
                case "rt":
                    hogs.Add(BackgroundProcess.Start("chrt", ["-f", "50", "/bin/sh", "-c", "while :; do :; done"], RunAs.Self, Path.Combine(directory, "rt-hog.log")));
                    bench = Unix();
                    break;
                default:
                    throw new ArgumentException($"unknown soak phase {name}: unix, proxy, hogs, storm or rt");
            }

            var result = await bench;
            return Summary(result);
        }
        finally
        {
            foreach (var hog in hogs)
            {
                await hog.DisposeAsync();
            }
        }
    }

    /// <summary>pgbench's own tps and failure lines, or its first error.</summary>
    private static string Summary(ProcessResult result)
    {
        var lines = result.Output.Split('\n');
        var tps = lines.FirstOrDefault(l => l.StartsWith("tps", StringComparison.Ordinal))?.Trim();
        var failed = lines.FirstOrDefault(l => l.Contains("failed", StringComparison.Ordinal) && l.Contains("transactions", StringComparison.Ordinal))?.Trim();
        var processed = lines.FirstOrDefault(l => l.Contains("actually processed", StringComparison.Ordinal))?.Trim();
        return result.ExitCode == 0
            ? $"pgbench {processed}; {failed ?? "no failures line"}; {tps}"
            : $"pgbench FAILED (exit {result.ExitCode}): {lines.FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase))?.Trim()}";
    }

    private static Task<ProcessResult> PgBench(string host, int port, RunAs runAs, string[] args) =>
        ProcessRunner.RunAsync(PgBinaries.Path("pgbench"), ["-h", host, "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", .. args, "postgres"], runAs, TimeSpan.FromHours(2));

    private static async Task<string[]> ScrapeAllAsync((string Name, RunAs Host, string Url)[] scrapes)
    {
        var texts = new string[scrapes.Length];
        for (var i = 0; i < scrapes.Length; i++)
        {
            var result = await ProcessRunner.RunAsync("curl", ["-s", "--max-time", "10", scrapes[i].Url], scrapes[i].Host, TimeSpan.FromSeconds(20));
            texts[i] = result.ExitCode == 0 ? result.StandardOutput : string.Empty;
        }

        return texts;
    }

    /// <summary>The same cut as the detection benchmark, after the soak: the bound still holds.</summary>
    private static async Task RealCutsAsync(NetworkLink link, PgCluster cluster, ConMgrNode node, RunAs conmgrHost, int cuts, TimeSpan interval, TimeSpan timeout)
    {
        var conmgr = new List<double>();
        var server = new List<double>();
        for (var i = 0; i < cuts; i++)
        {
            var (byConmgr, byServer) = await DetectionBenchmark.CutOnceAsync(link, cluster, node, conmgrHost, $"cut{i}.log", interval, () => cluster.Primary.ScalarAsync<long>(DetectionBenchmark.ClientSessions));
            conmgr.Add(byConmgr.TotalMilliseconds);
            server.Add(byServer.TotalMilliseconds);
        }

        var ms = timeout.TotalMilliseconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"real cuts after the soak ({cuts}): conmgr notices {Stats.Summary(conmgr)}, max/timeout = {conmgr.Max() / ms:0.000}; server kills {Stats.Summary(server)}, max/timeout = {server.Max() / ms:0.000}"));
    }
}
