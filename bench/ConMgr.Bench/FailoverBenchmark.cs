// FailoverBenchmark.cs: time from pg_promote() returning to the first read-write connection: through conmgr and with Npgsql multi-host.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.Bench;

/// <summary>
/// Per round: a fresh primary + standby in a server-host namespace, conmgr in a client-host
/// namespace. The old primary's ports are black-holed (iptables DROP inside the server
/// namespace: its host "died", packets vanish) and, once conmgr has noticed, the standby is
/// promoted. From the moment pg_promote() returns, two clients in the client namespace race
/// for a read-write connection in the same run: ConMgr.Client through conmgr, and Npgsql's own
/// multi-host <c>Target Session Attributes=read-write</c> listing old primary then standby.
/// The measuring part runs as a child process inside the client namespace (<c>failover-round</c>).
/// </summary>
public static class FailoverBenchmark
{
    public static async Task RunAsync(int rounds, int checkAttrIntervalMs, int npgsqlTimeoutSeconds)
    {
        Console.WriteLine($"failover: {rounds} rounds, watchdog.check_attr_interval {checkAttrIntervalMs} ms, heartbeat 200 ms / 1 s, Npgsql Timeout={npgsqlTimeoutSeconds} s");
        var conmgr = new List<double>();
        var npgsql = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            await using var link = await NetworkLink.CreateAsync();
            await using var cluster = await PgCluster.StartAsync(link.ServerCluster(1, checkAttrIntervalMs));
            await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 200ms\nheartbeat_connect_timeout = 1s\n" + ConMgrNode.InstanceLines(cluster), new RunAs("postgres", link.ClientNamespace));
            await node.StartAsync();
            await node.WaitInstanceAsync(1, s => s.Role == "standby", TimeSpan.FromSeconds(30), "the standby's link");
            await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");

            var result = await ProcessRunner.RunAsync(
                Environment.ProcessPath!,
                ["failover-round", link.ServerNamespace, node.Port.ToString(CultureInfo.InvariantCulture), cluster.Primary.Port.ToString(CultureInfo.InvariantCulture), cluster.Primary.WatchdogPort.ToString(CultureInfo.InvariantCulture), cluster.Standbys[0].Port.ToString(CultureInfo.InvariantCulture), cluster.Standbys[0].SocketDirectory, node.Directory, npgsqlTimeoutSeconds.ToString(CultureInfo.InvariantCulture)],
                new RunAs(NetworkNamespace: link.ClientNamespace),
                TimeSpan.FromMinutes(3));
            var line = result.StandardOutput.Split('\n').SingleOrDefault(l => l.StartsWith("round ", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"failover-round failed:\n{result.Output}");
            var parts = line.Split(' ');
            conmgr.Add(double.Parse(parts[2], CultureInfo.InvariantCulture));
            npgsql.Add(double.Parse(parts[4], CultureInfo.InvariantCulture));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round + 1}: conmgr {conmgr[^1],6:0} ms, npgsql multi-host {npgsql[^1],6:0} ms"));
        }

        Console.WriteLine($"through conmgr:     {Stats.Summary(conmgr)}; median / check_attr_interval = {Stats.Percentile(conmgr, 50) / checkAttrIntervalMs:0.00}");
        Console.WriteLine($"npgsql multi-host:  {Stats.Summary(npgsql)}; median ratio npgsql/conmgr = {Stats.Percentile(npgsql, 50) / Stats.Percentile(conmgr, 50):0.0}");
    }

    /// <summary>The measuring half, inside the client namespace (run as root: it drives iptables in the server namespace).</summary>
    public static async Task<int> RoundAsync(string[] a)
    {
        var (serverNs, conmgrPort, primaryPort, primaryWatchdog, standbyPort, standbySockets, conmgrDir, timeout) =
            (a[1], a[2], a[3], a[4], a[5], a[6], a[7], int.Parse(a[8], CultureInfo.InvariantCulture));
        await using var viaConmgr = ConMgrDataSource.Create($"Host=127.0.0.1:{conmgrPort};Username=postgres;Database=postgres;Target Session Attributes=read-write;Timeout=5;Pooling=false");
        var multiHost = $"Host={NetworkLink.ServerAddress}:{primaryPort},{NetworkLink.ServerAddress}:{standbyPort};Username=postgres;Database=postgres;Target Session Attributes=read-write;Timeout={timeout};Pooling=false";

        // Both clients have connected before: Npgsql's host-state cache knows the old primary as the
        // primary, and the data source's forecast names it (the only candidate), so its next open starts early there.
        for (var i = 0; i < 2; i++)
        {
            await using (await viaConmgr.OpenConnectionAsync())
            {
            }
        }

        await using (var warm = new NpgsqlConnection(multiHost))
        {
            await warm.OpenAsync();
        }

        foreach (var port in new[] { primaryPort, primaryWatchdog })
        {
            (await ProcessRunner.RunAsync("iptables", ["-A", "INPUT", "-p", "tcp", "--dport", port, "-j", "DROP"], new RunAs(NetworkNamespace: serverNs))).EnsureSuccess("iptables");
        }

        // The failover manager promotes only after conmgr's heartbeat has declared the old primary gone.
        var directory = new ConMgr.Hosting.Control.ConMgrDirectory(conmgrDir);
        await Poll.UntilAsync(async () => (await ConMgr.Hosting.Control.ControlClient.GetStatusAsync(directory, TimeSpan.FromSeconds(5))).Instances[0].Heartbeat != "up", TimeSpan.FromSeconds(30), "conmgr to mark the old primary down");
        await using (var standby = new NpgsqlConnection($"Host={standbySockets};Port={standbyPort};Username=postgres;Database=postgres;Pooling=false"))
        {
            await standby.OpenAsync();
            await using var promote = new NpgsqlCommand("select pg_promote(wait => true)", standby);
            await promote.ExecuteScalarAsync();
        }

        var watch = Stopwatch.StartNew();
        var conmgr = UntilOpenAsync(async () => await viaConmgr.OpenConnectionAsync(), watch);
        var npgsql = UntilOpenAsync(
            async () =>
            {
                var connection = new NpgsqlConnection(multiHost);
                await connection.OpenAsync();
                return connection;
            },
            watch);
        var (conmgrMs, npgsqlMs) = (await conmgr, await npgsql);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round conmgr {conmgrMs:0} npgsql {npgsqlMs:0}"));
        return 0;
    }

    private static async Task<double> UntilOpenAsync(Func<Task<NpgsqlConnection>> open, Stopwatch watch)
    {
        while (true)
        {
            try
            {
                await using var connection = await open();
                return watch.Elapsed.TotalMilliseconds;
            }
            catch (NpgsqlException)
            {
                await Task.Delay(5);
            }
        }
    }
}
