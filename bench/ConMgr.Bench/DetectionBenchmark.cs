// DetectionBenchmark.cs: link cut → conmgr notices, → server kills the sessions; beside it, plain TCP with and without tuning.
using System.Diagnostics;
using System.Globalization;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// Builds the link-cut scenario of the tests (server host and client host in two network
/// namespaces, PostgreSQL with its launched watchdog in one, conmgr and psql in the other),
/// cuts the link <c>cuts</c> times while a query is in flight and measures, from the cut, when
/// conmgr marks the instance down and when the server has killed the client host's session.
/// Then the same cut without conmgr: how long psql and the server take to notice by TCP alone.
/// </summary>
public static class DetectionBenchmark
{
    internal const string ClientSessions = $"select count(*) from pg_stat_activity where client_addr = '{NetworkLink.ClientAddress}' and backend_type = 'client backend'";
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(5);

    /// <param name="authentication">How the heartbeat is authenticated: <c>plaintext</c>, <c>tls</c> (mutual TLS) or <c>secret</c>.</param>
    /// <param name="tcpBaseline">Also measure plain TCP without conmgr (the baseline; skipped for the authenticated reruns).</param>
    public static async Task RunAsync(int cuts, TimeSpan interval, TimeSpan timeout, TimeSpan tcpWindow, string authentication = "plaintext", bool tcpBaseline = true)
    {
        Console.WriteLine($"detection: {cuts} cuts, heartbeat_interval {interval.TotalMilliseconds} ms, heartbeat_timeout {timeout.TotalMilliseconds} ms, heartbeat {authentication}");
        using var auth = await HeartbeatAuthSetup.CreateAsync(NetworkLink.ServerAddress);
        var (watchdogSettings, conmgrLines) = authentication switch
        {
            "tls" => (auth.WatchdogTls(), auth.ConmgrTls()),
            "secret" => (auth.WatchdogSecret, auth.ConmgrSecret()),
            "plaintext" => (Array.Empty<string>(), string.Empty),
            _ => throw new ArgumentException($"unknown heartbeat authentication {authentication}: plaintext, tls or secret"),
        };
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(0, 1000) with { ExtraSettings = watchdogSettings });
        var clientHost = new RunAs("postgres", link.ClientNamespace);
        await using var node = await ConMgrNode.CreateAsync(
            $"heartbeat_interval = {interval.TotalMilliseconds}ms\nheartbeat_timeout = {timeout.TotalMilliseconds}ms\nheartbeat_connect_interval = 100ms\nheartbeat_connect_timeout = 2s\n" + conmgrLines + ConMgrNode.InstanceLines(cluster),
            clientHost);
        await node.StartAsync();

        // One persistent admin connection for polling: opening one per poll would dominate a 5 ms poll.
        await using var admin = new Npgsql.NpgsqlConnection(cluster.Primary.ConnectionString());
        await admin.OpenAsync();
        async Task<long> SessionsAsync()
        {
            await using var command = new Npgsql.NpgsqlCommand(ClientSessions, admin);
            return (long)(await command.ExecuteScalarAsync())!;
        }

        var conmgr = new List<double>();
        var server = new List<double>();
        for (var i = 0; i < cuts; i++)
        {
            var (byConmgr, byServer) = await CutOnceAsync(link, cluster, node, clientHost, $"psql{i}.log", interval, SessionsAsync);
            conmgr.Add(byConmgr.TotalMilliseconds);
            server.Add(byServer.TotalMilliseconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  cut {i + 1,2}: conmgr {conmgr[^1],6:0} ms, server {server[^1],6:0} ms"));
        }

        var timeoutMs = timeout.TotalMilliseconds;
        Console.WriteLine($"conmgr notices: {Stats.Summary(conmgr)}; median/timeout = {Stats.Percentile(conmgr, 50) / timeoutMs:0.000}, max/timeout = {conmgr.Max() / timeoutMs:0.000}");
        Console.WriteLine($"server kills:   {Stats.Summary(server)}; median/timeout = {Stats.Percentile(server, 50) / timeoutMs:0.000}, max/timeout = {server.Max() / timeoutMs:0.000}");

        if (!tcpBaseline)
        {
            return;
        }

        // No conmgr from here on: its heartbeat would make the server notice, which is what plain TCP must do alone.
        var pid = node.Pid;
        var stop = await node.CtlAsync("stop", "-m", "fast", "-t", "10");
        if (stop.ExitCode != 0)
        {
            if (pid is { } p)
            {
                Console.WriteLine(File.ReadAllText($"/proc/{p}/status"));
                foreach (var task in Directory.EnumerateDirectories($"/proc/{p}/task"))
                {
                    Console.WriteLine($"{task}: {File.ReadAllText(Path.Combine(task, "stat"))} wchan={File.ReadAllText(Path.Combine(task, "wchan"))}");
                }
            }

            throw new InvalidOperationException($"cm_ctl stop failed:\n{stop.Output}\nconmgr log:\n{node.Log}");
        }

        await Poll.UntilAsync(
            async () => !(await File.ReadAllTextAsync(cluster.Primary.LogFile)).Split('\n').Any(l => l.Contains("established", StringComparison.Ordinal))
                || (await File.ReadAllTextAsync(cluster.Primary.LogFile)).Split('\n').Last(l => l.Contains("heartbeat from conmgr", StringComparison.Ordinal)).Contains(" lost:", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30),
            "the watchdog to see conmgr gone");
        await PlainTcpAsync(link, cluster, clientHost, node.Directory, "default keepalives", string.Empty, [], tcpWindow);
        await PlainTcpAsync(link, cluster, clientHost, node.Directory, "tcp_user_timeout = 1000 ms (client and server)", " tcp_user_timeout=1000", ["set tcp_user_timeout = 1000"], tcpWindow);
        await PlainTcpAsync(
            link,
            cluster,
            clientHost,
            node.Directory,
            "tcp_user_timeout = 1000 ms + keepalives 1 s idle / 1 s interval / 1 probe (client and server) + client_connection_check_interval = 1000 ms (server)",
            " tcp_user_timeout=1000 keepalives_idle=1 keepalives_interval=1 keepalives_count=1",
            ["set tcp_user_timeout = 1000", "set tcp_keepalives_idle = 1", "set tcp_keepalives_interval = 1", "set tcp_keepalives_count = 1", "set client_connection_check_interval = 1000"],
            tcpWindow);
    }

    /// <summary>
    /// One cut with a query in flight from the client host, at a random phase of the beat cycle as
    /// a real failure would come: when conmgr marked instance 0 down, and when the server had killed
    /// the client host's sessions (<paramref name="sessions"/> counts them); the link is restored after.
    /// </summary>
    internal static async Task<(TimeSpan Conmgr, TimeSpan Server)> CutOnceAsync(NetworkLink link, PgCluster cluster, ConMgrNode node, RunAs clientHost, string psqlLog, TimeSpan interval, Func<Task<long>> sessions)
    {
        await node.WaitInstanceAsync(0, s => s.Heartbeat == "up", TimeSpan.FromSeconds(30), "the link");
        await using var psql = StartPsql(cluster, clientHost, Path.Combine(node.Directory, psqlLog), string.Empty);
        await WaitActiveAsync(cluster);
        await Task.Delay(Random.Shared.Next((int)interval.TotalMilliseconds));
        var watch = Stopwatch.StartNew();
        await link.CutAsync();
        var conmgrTask = Until(async () => (await node.StatusAsync()).Instances[0].Heartbeat != "up", watch);
        var serverTask = Until(async () => await sessions() == 0, watch);
        var result = (await conmgrTask, await serverTask);
        await link.RestoreAsync();
        return result;
    }

    /// <summary>The same cut with no conmgr: psql's own socket options, the server's per-session settings.</summary>
    private static async Task PlainTcpAsync(NetworkLink link, PgCluster cluster, RunAs clientHost, string directory, string label, string clientOptions, string[] serverSettings, TimeSpan window)
    {
        await cluster.Primary.ExecuteAsync($"select pg_terminate_backend(pid) from pg_stat_activity where client_addr = '{NetworkLink.ClientAddress}'");
        await using var psql = StartPsql(cluster, clientHost, Path.Combine(directory, "psql-tcp.log"), clientOptions, serverSettings);
        await WaitActiveAsync(cluster);
        var watch = Stopwatch.StartNew();
        await link.CutAsync();
        var client = UntilOrNull(() => Task.FromResult(psql.HasExited), watch, window);
        var server = UntilOrNull(async () => await cluster.Primary.ScalarAsync<long>(ClientSessions) == 0, watch, window);
        string Show(TimeSpan? t) => t is { } v ? $"{v.TotalMilliseconds:0} ms" : $"not within {window.TotalSeconds:0} s";
        Console.WriteLine($"plain TCP, {label}: psql notices {Show(await client)}, server notices {Show(await server)}");
        await link.RestoreAsync();
    }

    internal static BackgroundProcess StartPsql(PgCluster cluster, RunAs clientHost, string log, string options, params string[] settings)
    {
        var conninfo = $"host={NetworkLink.ServerAddress} port={cluster.Primary.Port} user=postgres dbname=postgres{options}";
        var sql = string.Concat(settings.Select(s => s + "; ")) + "select pg_sleep(600)";
        return BackgroundProcess.Start("psql", ["-X", conninfo, "-c", sql], clientHost, log);
    }

    internal static Task<TimeSpan> WaitActiveAsync(PgCluster cluster) =>
        Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(ClientSessions + " and state = 'active' and query like '%pg_sleep%'") == 1, TimeSpan.FromSeconds(30), "the query in flight");

    internal static async Task<TimeSpan> Until(Func<Task<bool>> condition, Stopwatch watch) =>
        await UntilOrNull(condition, watch, TimeSpan.FromSeconds(60)) ?? throw new TimeoutException("not detected within 60 s");

    private static async Task<TimeSpan?> UntilOrNull(Func<Task<bool>> condition, Stopwatch watch, TimeSpan window)
    {
        while (watch.Elapsed < window)
        {
            if (await condition())
            {
                return watch.Elapsed;
            }

            await Task.Delay(PollEvery);
        }

        return null;
    }
}
