// TransactionPoolBenchmark.cs: pgbench -S through conmgr in transaction mode and through PgBouncer 1.18 in transaction mode with the same pool size, against direct, as a SCRAM user.
using System.Globalization;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// One primary, one role <c>bench</c> with a SCRAM password. Paths, rotated each round: direct
/// (pgbench's clients each have a backend), conmgr (preauth, <c>server_pool_mode = transaction</c>,
/// <c>read_write_max_server_connections = 20</c>), PgBouncer 1.18 (<c>pool_mode = transaction</c>,
/// <c>default_pool_size = 20</c>, SCRAM with the verifier in its auth_file). Each run is
/// <c>pgbench -S -M MODE -c N -j 2 -T SECONDS</c> for MODE in simple and extended and N in the
/// client counts given. Reported: tps per path (median of rounds) and the ratios to direct and to
/// PgBouncer. <c>-M prepared</c> is left out: Debian's PgBouncer 1.18 has no
/// max_prepared_statements, and conmgr pins named statements until it renames them.
/// </summary>
public static class TransactionPoolBenchmark
{
    private const string Password = ScramBench.Password;
    private static readonly string[] Paths = ["direct", "conmgr", "pgbouncer"];

    public static async Task RunAsync(int rounds, int seconds, IReadOnlyList<int> clients)
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            ExtraSettings = ["max_connections = 400", "listen_addresses = '127.0.0.1,127.0.0.2'", .. auth.WatchdogTls()],
        });
        var primary = cluster.Primary;
        await ScramBench.PreparePrimaryAsync(primary, scale: 10);

        using var scratch = new ScratchDirectory("txpoolbench");
        var hbaFile = await ScramBench.ConmgrHbaAsync(scratch);
        var rw = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync($"read_write_port = {rw}\nlisten_addresses = '127.0.0.1'\nmax_connections = 2000\nheartbeat_interval = 1s\nheartbeat_timeout = 3s\nlog_min_messages = warning\nbackend_sslmode = disable\npreauth = on\nhba_file = '{hbaFile}'\nserver_pool_mode = transaction\nread_write_max_server_connections = 20\n{auth.ConmgrTls()}" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");

        var verifier = await primary.ScalarAsync<string>("select rolpassword from pg_authid where rolname = 'bench'");
        var (pgbouncer, pgbouncerPort) = await PgBouncerPeer.StartAsync(Path.Combine(scratch.Path, "pgbouncer"), "127.0.0.2", primary.Port, "pool_mode = transaction\ndefault_pool_size = 20\nmax_client_conn = 2000", "scram-sha-256", $"\"bench\" \"{verifier}\"\n");
        await using var _ = pgbouncer;
        var ports = new Dictionary<string, int> { ["direct"] = primary.Port, ["conmgr"] = rw, ["pgbouncer"] = pgbouncerPort };
        var hosts = new Dictionary<string, string> { ["direct"] = "127.0.0.2", ["conmgr"] = "127.0.0.1", ["pgbouncer"] = "127.0.0.1" };
        var environment = new Dictionary<string, string> { ["PGPASSWORD"] = Password };

        Console.WriteLine($"txpool: pgbench -S -j 2 -T {seconds} as a SCRAM user, pool size 20, {rounds} rounds, paths rotated each round");
        foreach (var mode in new[] { "simple", "extended" })
        {
            foreach (var count in clients)
            {
                var tps = Paths.ToDictionary(p => p, _ => new List<double>());
                for (var round = 0; round < rounds; round++)
                {
                    foreach (var path in Paths.Skip(round % Paths.Length).Concat(Paths.Take(round % Paths.Length)))
                    {
                        var run = await ProcessRunner.RunAsync(PgBinaries.Path("pgbench"), ["-h", hosts[path], "-p", ports[path].ToString(CultureInfo.InvariantCulture), "-U", "bench", "-S", "-M", mode, "-c", count.ToString(CultureInfo.InvariantCulture), "-j", "2", "-n", "-T", seconds.ToString(CultureInfo.InvariantCulture), "postgres"], RunAs.Postgres, TimeSpan.FromMinutes(10), environment);
                        if (run.ExitCode != 0)
                        {
                            Console.WriteLine($"txpool: -M {mode} -c {count} {path,-10} FAILED: {run.Output.Split('\n').FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? $"exit code {run.ExitCode}"}");
                            continue;
                        }

                        tps[path].Add(ProxyBenchmark.Parse(ProxyBenchmark.TpsLine(), run.Output));
                    }
                }

                var direct = tps["direct"].Count > 0 ? Stats.Percentile(tps["direct"], 50) : double.NaN;
                var bouncer = tps["pgbouncer"].Count > 0 ? Stats.Percentile(tps["pgbouncer"], 50) : double.NaN;
                foreach (var path in Paths.Where(p => tps[p].Count > 0))
                {
                    var median = Stats.Percentile(tps[path], 50);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"txpool: -M {mode,-8} -c {count,3} {path,-10} tps {median,9:0.0}  to direct {median / direct:0.000}  to pgbouncer {median / bouncer:0.000}"));
                }
            }
        }
    }
}
