// PreauthBenchmark.cs: a connect storm of SCRAM users (pgbench -C -S) direct, through conmgr with preauth, and through PgBouncer with SCRAM; then a flood of wrong passwords.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text.RegularExpressions;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.Bench;

/// <summary>
/// One cluster, one role <c>bench</c> with a SCRAM password that the server asks for from every
/// address. Paths, rotated each round: direct (the server runs SCRAM itself), conmgr (preauth:
/// conmgr runs SCRAM with pgbench, looks the secret up on the watchdog over mutual TLS, then logs
/// in to the server with the recovered key), PgBouncer 1.18 in session mode with
/// <c>auth_type = scram-sha-256</c> and the verifier from pg_authid in its auth_file (it does the
/// same pass-through). Reported: pgbench's average connection time and tps per path, medians and
/// ratios to direct; conmgr's lookup latency from its histogram (bucket bounds); the watchdog's CPU
/// per lookup (its own process and its lookup backend). Then the flood: wrong passwords as fast as
/// eight psycopg2 processes can send them through conmgr (each pays its own PBKDF2), with one legitimate client logging in meanwhile:
/// server backends forked for the flood (log_connections lines from conmgr's address), conmgr's
/// CPU, and the legitimate logins' time against the same client alone.
/// </summary>
public static partial class PreauthBenchmark
{
    private const string Password = ScramBench.Password;
    private static readonly string[] Paths = ["direct", "conmgr", "pgbouncer"];

    public static async Task RunAsync(int rounds, int seconds, int floodSeconds)
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            ExtraSettings = ["max_connections = 100", "listen_addresses = '127.0.0.1,127.0.0.2'", "log_connections = on", .. auth.WatchdogTls()],
        });
        var primary = cluster.Primary;
        await ScramBench.PreparePrimaryAsync(primary, scale: 1);

        using var scratch = new ScratchDirectory("preauthbench");
        var hbaFile = await ScramBench.ConmgrHbaAsync(scratch);
        var rw = FreePort.Next();
        var http = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync($"read_write_port = {rw}\nhttp_port = {http}\nlisten_addresses = '127.0.0.1'\nheartbeat_interval = 1s\nheartbeat_timeout = 3s\nlog_min_messages = log\nbackend_sslmode = disable\npreauth = on\nhba_file = '{hbaFile}'\n{auth.ConmgrTls()}" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");

        var verifier = await primary.ScalarAsync<string>("select rolpassword from pg_authid where rolname = 'bench'");
        var (pgbouncer, pgbouncerPort) = await PgBouncerPeer.StartAsync(Path.Combine(scratch.Path, "pgbouncer"), "127.0.0.2", primary.Port, "pool_mode = session\ndefault_pool_size = 20\nmax_client_conn = 1000", "scram-sha-256", $"\"bench\" \"{verifier}\"\n");
        await using var _ = pgbouncer;
        var ports = new Dictionary<string, int> { ["direct"] = primary.Port, ["conmgr"] = rw, ["pgbouncer"] = pgbouncerPort };
        var hosts = new Dictionary<string, string> { ["direct"] = "127.0.0.2", ["conmgr"] = "127.0.0.1", ["pgbouncer"] = "127.0.0.1" };
        var environment = new Dictionary<string, string> { ["PGPASSWORD"] = Password };
        var watchdog = primary.WatchdogPid ?? throw new InvalidOperationException("no watchdog");

        Console.WriteLine($"preauth: pgbench -C -S -c 8 -j 2 -T {seconds} as a SCRAM user, {rounds} rounds, paths rotated each round");
        var connect = Paths.ToDictionary(p => p, _ => new List<double>());
        var tps = Paths.ToDictionary(p => p, _ => new List<double>());
        double watchdogCpu = 0;
        double backendCpu = 0;
        double idleCpu = 0;
        double idleSeconds = 0;
        double busySeconds = 0;
        long lookups = 0;
        for (var round = 0; round < rounds; round++)
        {
            foreach (var path in Paths.Skip(round % Paths.Length).Concat(Paths.Take(round % Paths.Length)))
            {
                var lookupBackend = path == "conmgr" ? await LookupBackendAsync(primary) : 0;
                var cpuBefore = Cpu(watchdog);
                var clock = Stopwatch.StartNew();
                var backendBefore = Cpu(lookupBackend);
                var loginsBefore = path == "conmgr" ? await CounterAsync(http, "conmgr_preauth_logins_total", "conmgr_result=\"ok\"") : 0;
                var run = await ProcessRunner.RunAsync(PgBinaries.Path("pgbench"), ["-h", hosts[path], "-p", ports[path].ToString(CultureInfo.InvariantCulture), "-U", "bench", "-S", "-C", "-c", "8", "-j", "2", "-n", "-T", seconds.ToString(CultureInfo.InvariantCulture), "postgres"], RunAs.Postgres, TimeSpan.FromMinutes(10), environment);
                if (run.ExitCode != 0)
                {
                    Console.WriteLine($"preauth: round {round + 1} {path,-10} FAILED: {run.Output.Split('\n').FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? $"exit code {run.ExitCode}"}");
                    continue;
                }

                if (path == "direct")
                {
                    // cm_watchdog's own rate without lookups (beats, attribute checks), taken off the conmgr rounds' CPU below.
                    idleCpu += Cpu(watchdog) - cpuBefore;
                    idleSeconds += clock.Elapsed.TotalSeconds;
                }

                if (path == "conmgr")
                {
                    busySeconds += clock.Elapsed.TotalSeconds;
                    var backend = lookupBackend != 0 ? lookupBackend : await LookupBackendAsync(primary);
                    watchdogCpu += Cpu(watchdog) - cpuBefore;
                    backendCpu += Cpu(backend) - (backend == lookupBackend ? backendBefore : 0);
                    lookups += (long)(await CounterAsync(http, "conmgr_preauth_logins_total", "conmgr_result=\"ok\"") - loginsBefore);
                }

                connect[path].Add(ProxyBenchmark.Parse(ConnectionTimeLine(), run.Output));
                tps[path].Add(ProxyBenchmark.Parse(ProxyBenchmark.TpsLine(), run.Output));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: round {round + 1} {path,-10} connect {connect[path][^1],7:0.000} ms  tps {tps[path][^1],8:0.0}"));
            }
        }

        var direct = Stats.Percentile(connect["direct"], 50);
        foreach (var path in Paths.Where(p => connect[p].Count > 0))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: median {path,-10} connect {Stats.Percentile(connect[path], 50),7:0.000} ms  ratio to direct {Stats.Percentile(connect[path], 50) / direct:0.000}  tps {Stats.Percentile(tps[path], 50),8:0.0}"));
        }

        var buckets = await BucketsAsync(http, "conmgr_preauth_lookup_duration_seconds_bucket", "answered");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: lookups {lookups}; latency (histogram bucket upper bounds) p50 <= {Quantile(buckets, 0.5) * 1000:0.###} ms, p90 <= {Quantile(buckets, 0.9) * 1000:0.###} ms, p99 <= {Quantile(buckets, 0.99) * 1000:0.###} ms"));
        var idleRate = idleSeconds > 0 ? idleCpu / idleSeconds : 0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: CPU per lookup: cm_watchdog {(lookups > 0 ? (watchdogCpu - (idleRate * busySeconds)) / lookups * 1e6 : double.NaN):0.0} µs (its {idleRate * 1000:0.0} ms/s without lookups taken off), its lookup backend {(lookups > 0 ? backendCpu / lookups * 1e6 : double.NaN):0.0} µs"));

        await EnumerationAsync(rw);
        await FloodAsync(primary, node, rw, floodSeconds);
    }

    /// <summary>
    /// A wrong password for a role that exists against any password for one that does not,
    /// interleaved: the mock exchange must take as long, or the time would tell which roles exist.
    /// </summary>
    private static async Task EnumerationAsync(int port)
    {
        var times = new Dictionary<string, List<double>> { ["bench"] = [], ["no_such_role"] = [] };
        for (var i = 0; i < 400; i++)
        {
            var user = i % 2 == 0 ? "bench" : "no_such_role";
            var started = Stopwatch.GetTimestamp();
            try
            {
                await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username={user};Password=wrong;Database=postgres;Pooling=false;Timeout=10");
                await connection.OpenAsync();
                throw new InvalidOperationException($"{user} logged in with a wrong password");
            }
            catch (PostgresException ex) when (ex.SqlState == "28P01")
            {
                times[user].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: refusal time, 200 each interleaved: wrong password for a role median {Stats.Percentile(times["bench"], 50):0.000} ms (p90 {Stats.Percentile(times["bench"], 90):0.000}), unknown role median {Stats.Percentile(times["no_such_role"], 50):0.000} ms (p90 {Stats.Percentile(times["no_such_role"], 90):0.000}), ratio {Stats.Percentile(times["no_such_role"], 50) / Stats.Percentile(times["bench"], 50):0.000}"));
    }

    /// <summary>Eight clients with a wrong password through conmgr, one with the right one; what the flood costs and whom.</summary>
    private static async Task FloodAsync(PgInstance primary, ConMgrNode node, int port, int seconds)
    {
        var good = $"Host=127.0.0.1;Port={port};Username=bench;Password={Password};Database=postgres;Pooling=false;Timeout=10";
        var alone = await LegitimateAsync(good, TimeSpan.FromSeconds(seconds), CancellationToken.None);

        var forksBefore = CountForks(await File.ReadAllTextAsync(primary.LogFile));
        var conmgr = node.Pid ?? throw new InvalidOperationException("conmgr is not running");
        var cpuBefore = Cpu(conmgr);
        var clock = Stopwatch.StartNew();
        var script = Path.Combine(RepoPaths.Root, "bench", "scripts", "wrong_passwords.py");
        var flood = ProcessRunner.RunAsync("/usr/bin/python3", [script, "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), "bench", "8", seconds.ToString(CultureInfo.InvariantCulture)], RunAs.Postgres, TimeSpan.FromMinutes(5));
        var during = await LegitimateAsync(good, TimeSpan.FromSeconds(seconds), CancellationToken.None);
        var flooded = await flood;
        flooded.EnsureSuccess("the wrong-password flood");
        var refused = long.Parse(FloodLine().Match(flooded.StandardOutput).Groups[1].Value, CultureInfo.InvariantCulture);
        var elapsed = clock.Elapsed.TotalSeconds;
        var conmgrCpu = (Cpu(conmgr) - cpuBefore) / elapsed;
        var forks = CountForks(await File.ReadAllTextAsync(primary.LogFile)) - forksBefore;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: flood of wrong passwords for {seconds} s: {refused} refused ({refused / elapsed:0} per s), server backends forked {forks - during.Count} beyond the legitimate client's {during.Count}, conmgr CPU {conmgrCpu * 100:0} % of a core"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preauth: legitimate logins alone {alone.Count} (median {Stats.Percentile(alone, 50):0.00} ms), during the flood {during.Count} (median {Stats.Percentile(during, 50):0.00} ms, p99 {Stats.Percentile(during, 99):0.00} ms)"));
    }

    /// <summary>Logins with the right password, one after another, for <paramref name="duration"/>: each one's time in ms.</summary>
    private static async Task<List<double>> LegitimateAsync(string connectionString, TimeSpan duration, CancellationToken cancellationToken)
    {
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return times;
    }

    /// <summary>log_connections' "connection received" lines from conmgr's address (127.0.0.1; direct runs come from 127.0.0.2).</summary>
    private static int CountForks(string log) => ForkLine().Count(log);

    private static async Task<int> LookupBackendAsync(PgInstance primary) =>
        await primary.ScalarAsync<int?>("select pid from pg_stat_activity where application_name = 'cm_watchdog auth lookup' limit 1") ?? 0;

    private static double Cpu(int pid) => pid == 0 || !File.Exists($"/proc/{pid}/stat") ? 0 : ScaleBenchmark.UserSeconds(pid) + ScaleBenchmark.SystemSeconds(pid);

    private static async Task<string> MetricsAsync(int port)
    {
        using var client = new HttpClient();
        return await client.GetStringAsync($"http://127.0.0.1:{port}/metrics");
    }

    /// <summary>The sum of a counter's series whose labels include <paramref name="label"/> (the exporter may add labels of its own).</summary>
    private static async Task<double> CounterAsync(int port, string name, string label)
    {
        return (await MetricsAsync(port)).Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) && l.Contains(label, StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }

    /// <summary>(upper bound, cumulative count) of a histogram's buckets with the given result label.</summary>
    private static async Task<List<(double Le, double Count)>> BucketsAsync(int port, string name, string result)
    {
        var buckets = new List<(double, double)>();
        foreach (var line in (await MetricsAsync(port)).Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) && l.Contains($"conmgr_result=\"{result}\"", StringComparison.Ordinal)))
        {
            var le = LeLabel().Match(line).Groups[1].Value;
            buckets.Add((le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture), double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)));
        }

        return buckets;
    }

    private static double Quantile(List<(double Le, double Count)> buckets, double q)
    {
        var total = buckets.Count > 0 ? buckets.Max(b => b.Count) : 0;
        return buckets.OrderBy(b => b.Le).FirstOrDefault(b => b.Count >= q * total && total > 0).Le;
    }

    [GeneratedRegex(@"refused (\d+) other")]
    private static partial Regex FloodLine();

    [GeneratedRegex(@"average connection time = ([0-9.]+) ms")]
    private static partial Regex ConnectionTimeLine();

    [GeneratedRegex(@"connection received: host=127\.0\.0\.1 ")]
    private static partial Regex ForkLine();

    [GeneratedRegex("le=\"([^\"]+)\"")]
    private static partial Regex LeLabel();
}
