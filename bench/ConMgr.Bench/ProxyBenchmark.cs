// ProxyBenchmark.cs: pgbench through conmgr's read-write port, PgBouncer and HAProxy, against direct PostgreSQL, interleaved in one run.
using System.Globalization;
using System.Text.RegularExpressions;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// One primary (its watchdog through the launcher) and four ways to it over loopback TCP: direct,
/// conmgr's read_write_port, PgBouncer (session pooling) and HAProxy (TCP mode), both from
/// Debian. Each round runs every path once per mode, rotating which goes first so drift on a
/// shared 2-core machine hits all alike; medians over the rounds, and each path's ratio to direct.
/// Modes: <c>pgbench -S -c 8 -j 2</c> (throughput), <c>-S -c 1</c> (added latency per round trip),
/// <c>-S -C -c 8 -j 2</c> (a new connection per transaction).
/// The three other paths reach the server at 127.0.0.2 (so their sessions' client_addr is
/// 127.0.0.2): the watchdog's terminator acts on conmgr's address, 127.0.0.1, and a lost conmgr
/// heartbeat must not end the peers' sessions mid-run.
/// With <c>--tls</c> every hop is TLS: pgbench with sslmode=require to each path, conmgr with
/// ssl = on and backend_sslmode = require, PgBouncer with client_tls_sslmode and
/// server_tls_sslmode require, the server with ssl = on; HAProxy (TCP mode) is left out.
/// </summary>
public static partial class ProxyBenchmark
{
    private static string[] Paths = ["direct", "conmgr", "pgbouncer", "haproxy"];

    public static async Task RunAsync(int rounds, int seconds, string modes, string? paths = null, bool tls = false)
    {
        Paths = paths?.Split(',') ?? (tls ? ["direct", "conmgr", "pgbouncer"] : Paths);
        using var pki = TestPki.CreateTemporary();
        var certificate = pki.Issue("server", "localhost", ["localhost", "127.0.0.1", "127.0.0.2"]);
        await pki.ChownAsync();
        string[] serverTls = tls ? ["ssl = on", $"ssl_cert_file = '{certificate.Cert}'", $"ssl_key_file = '{certificate.Key}'"] : [];
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, ExtraSettings = ["max_connections = 100", "listen_addresses = '127.0.0.1,127.0.0.2'", .. serverTls] });
        var primary = cluster.Primary;
        var rw = FreePort.Next();
        var conmgrTls = tls ? $"ssl = on\nssl_cert_file = '{certificate.Cert}'\nssl_key_file = '{certificate.Key}'\nbackend_sslmode = require\n" : "backend_sslmode = disable\n";
        await using var node = await ConMgrNode.CreateAsync($"read_write_port = {rw}\nlisten_addresses = '127.0.0.1'\nheartbeat_interval = 1s\nheartbeat_timeout = 3s\nlog_min_messages = log\n" + conmgrTls + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");
        using var scratch = new ScratchDirectory("proxybench");
        var directory = scratch.Path;
        const string PeerAddress = "127.0.0.2";
        var bouncerTls = tls ? $"\nclient_tls_sslmode = require\nclient_tls_cert_file = {certificate.Cert}\nclient_tls_key_file = {certificate.Key}\nserver_tls_sslmode = require" : string.Empty;
        var (pgbouncer, pgbouncerPort) = await PgBouncerPeer.StartAsync(directory, PeerAddress, primary.Port, "pool_mode = session\ndefault_pool_size = 20\nmax_client_conn = 1000" + bouncerTls);
        await using var _ = pgbouncer;
        var (haproxy, haproxyPort) = Paths.Contains("haproxy") ? await StartHaproxyAsync(directory, primary.Port) : (null, 0);
        await using var __ = haproxy;
        Environment = tls ? new Dictionary<string, string> { ["PGSSLMODE"] = "require" } : null;
        var ports = new Dictionary<string, int> { ["direct"] = primary.Port, ["conmgr"] = rw, ["pgbouncer"] = pgbouncerPort, ["haproxy"] = haproxyPort };
        var hosts = new Dictionary<string, string> { ["direct"] = PeerAddress, ["conmgr"] = "127.0.0.1", ["pgbouncer"] = "127.0.0.1", ["haproxy"] = "127.0.0.1" };

        (await PgBenchAsync(PeerAddress, primary.Port, ["-i", "-q", "-s", "10"])).EnsureSuccess("pgbench -i");
        var incidents = new HeartbeatIncidents(node.LogFile, primary.LogFile);
        Console.WriteLine($"proxy: pgbench -T {seconds}, {rounds} rounds, paths rotated each round; scale 10{(tls ? "; every hop TLS (sslmode=require)" : string.Empty)}");
        foreach (var mode in modes.Split(','))
        {
            string[] args = mode switch
            {
                "select" => ["-S", "-c", "8", "-j", "2"],
                "single" => ["-S", "-c", "1"],
                "connect" => ["-S", "-C", "-c", "8", "-j", "2"],
                _ => throw new ArgumentException($"unknown mode {mode}"),
            };
            var tps = Paths.ToDictionary(p => p, _ => new List<double>());
            var latency = Paths.ToDictionary(p => p, _ => new List<double>());
            for (var round = 0; round < rounds; round++)
            {
                foreach (var path in Paths.Skip(round % Paths.Length).Concat(Paths.Take(round % Paths.Length)))
                {
                    var result = await PgBenchAsync(hosts[path], ports[path], [.. args, "-T", seconds.ToString(CultureInfo.InvariantCulture), "-n"]);
                    foreach (var line in incidents.Since())
                    {
                        // The monitor must not cause an outage: a heartbeat that ends under load is reported with the run it happened in.
                        Console.WriteLine($"proxy: {mode,-8} round {round + 1} {path,-10} HEARTBEAT: {line}");
                    }

                    if (result.ExitCode != 0)
                    {
                        // Recorded, not hidden: a failed run is reported with pgbench's first error and left out of the medians.
                        var firstError = result.Output.Split('\n').FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? $"exit code {result.ExitCode}";
                        Console.WriteLine($"proxy: {mode,-8} round {round + 1} {path,-10} FAILED: {firstError}");
                        continue;
                    }

                    tps[path].Add(Parse(TpsLine(), result.Output));
                    latency[path].Add(Parse(LatencyLine(), result.Output));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"proxy: {mode,-8} round {round + 1} {path,-10} tps {tps[path][^1],9:0.0}  latency {latency[path][^1]:0.000} ms"));
                }
            }

            var directTps = Stats.Percentile(tps["direct"], 50);
            var directLatency = Stats.Percentile(latency["direct"], 50);
            foreach (var path in Paths.Where(p => tps[p].Count > 0))
            {
                var medianTps = Stats.Percentile(tps[path], 50);
                var medianLatency = Stats.Percentile(latency[path], 50);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"proxy: {mode,-8} median {path,-10} tps {medianTps,9:0.0}  ratio to direct {medianTps / directTps:0.000}  latency {medianLatency:0.000} ms  added {medianLatency - directLatency:+0.000;-0.000} ms"));
            }
        }
    }

    /// <summary>libpq's environment for pgbench: PGSSLMODE=require in the TLS runs.</summary>
    private static Dictionary<string, string>? Environment;

    internal static Task<ProcessResult> PgBenchAsync(string host, int port, string[] args) =>
        ProcessRunner.RunAsync(PgBinaries.Path("pgbench"), ["-h", host, "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", .. args, "postgres"], RunAs.Postgres, TimeSpan.FromMinutes(10), Environment);

    internal static double Parse(Regex pattern, string output) =>
        pattern.Match(output) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException($"no match for {pattern} in:\n{output}");

    private static async Task<(BackgroundProcess Process, int Port)> StartHaproxyAsync(string directory, int serverPort)
    {
        var port = FreePort.Next();
        var cfg = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(cfg, $"""
            global
              maxconn 1000
            defaults
              mode tcp
              timeout connect 5s
              timeout client 1h
              timeout server 1h
            listen postgres
              bind 127.0.0.1:{port}
              server primary 127.0.0.2:{serverPort}
            """ + "\n");
        await ProcessRunner.RunAsync("chown", ["-R", "postgres", directory], RunAs.Self);
        var process = BackgroundProcess.Start("/usr/sbin/haproxy", ["-db", "-f", cfg], RunAs.Postgres, Path.Combine(directory, "haproxy.log"));
        await Poll.UntilAsync(() => PgBouncerPeer.CanConnect(port), TimeSpan.FromSeconds(30), "haproxy to listen");
        return (process, port);
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)")]
    internal static partial Regex TpsLine();

    [GeneratedRegex(@"latency average = ([0-9.]+) ms")]
    private static partial Regex LatencyLine();
}
