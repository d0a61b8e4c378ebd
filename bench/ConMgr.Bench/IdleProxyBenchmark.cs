// IdleProxyBenchmark.cs: conmgr's resident memory per idle proxied session at 10,000 sessions, PgBouncer's per idle client beside it.
using System.Globalization;
using System.Runtime.InteropServices;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// 10,000 PostgreSQL backends do not fit on a 2-core benchmark machine, so the sessions end in
/// PgBouncer (transaction pooling: an idle client holds no server connection) on the instance's
/// host: client → conmgr's read_write_port → PgBouncer → the primary, whose watchdog gives conmgr
/// its heartbeat. Every client sends a startup message and waits for ReadyForQuery, then stays
/// idle. Each daemon's RSS is read once stable before the clients and with every client
/// connected; the difference over the number of sessions is the memory per idle session: for
/// conmgr a client socket, a server socket and the session's state; for PgBouncer a client.
/// With <c>--tls</c> both hops are TLS (clients → conmgr with ssl = on, conmgr → PgBouncer with
/// backend_sslmode = require and PgBouncer's client_tls_sslmode = require): conmgr then holds two
/// TLS streams per session, PgBouncer one per client.
/// </summary>
public static partial class IdleProxyBenchmark
{
    /// <param name="cycles">How many times the sessions are opened and closed again: RSS after each cycle tells retention from a leak.</param>
    public static async Task RunAsync(int sessions, int concurrency, bool tls = false, int cycles = 1)
    {
        // conmgr holds two descriptors per session; children inherit the raised limit. Where the hard
        // limit cannot be raised (no CAP_SYS_RESOURCE, as in this project's VMs: 20,000), fewer sessions.
        var limit = RaiseOpenFiles(2 * sessions + 1024);
        if (2 * sessions + 1024 > limit)
        {
            // Headroom for conmgr's own descriptors and the sessions being handed over (four each for a moment).
            var fitting = (limit - 1024) / 2;
            Console.WriteLine($"idle-proxy: descriptor limit {limit} (hard limit, cannot be raised here): {fitting} sessions instead of {sessions}");
            sessions = fitting;
        }

        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher });
        var primary = cluster.Primary;
        using var scratch = new ScratchDirectory("idleproxy");
        var directory = scratch.Path;
        using var pki = TestPki.CreateTemporary();
        var certificate = pki.Issue("server", "localhost", ["localhost", "127.0.0.1"]);
        await pki.ChownAsync();
        var bouncerTls = tls ? $"\nclient_tls_sslmode = require\nclient_tls_cert_file = {certificate.Cert}\nclient_tls_key_file = {certificate.Key}" : string.Empty;
        var (pgbouncer, pgbouncerPort) = await PgBouncerPeer.StartAsync(directory, "127.0.0.1", primary.Port, $"pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = {sessions * 2}\nlog_disconnections = 1" + bouncerTls);
        await using var _ = pgbouncer;

        var rw = FreePort.Next();
        var conmgrTls = tls ? $"ssl = on\nssl_cert_file = '{certificate.Cert}'\nssl_key_file = '{certificate.Key}'\nbackend_sslmode = require\n" : "backend_sslmode = disable\n";
        await using var node = await ConMgrNode.CreateAsync(
            $"read_write_port = {rw}\nlisten_addresses = '127.0.0.1'\nmax_connections = 0\nlog_min_messages = {Environment.GetEnvironmentVariable("IDLE_PROXY_LOG") ?? "log"}\nheartbeat_interval = 1s\nheartbeat_timeout = 3s\n" + conmgrTls +
            ConMgrNode.SecretLine(cluster) + $"backend_hostaddr0 = '127.0.0.1'\nbackend_port0 = {pgbouncerPort}\nwatchdog_port0 = {primary.WatchdogPort}\n");
        var caFile = tls ? pki.CaFile : null;
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Role == "primary", TimeSpan.FromSeconds(30), "the primary's link");
        var conmgrPid = node.Pid ?? throw new InvalidOperationException("conmgr has no PID");

        // One session first: the relay reactor's thread and descriptors start with the first session and stay.
        foreach (var warmUp in await ConnectAllAsync(rw, 1, 1, caFile))
        {
            warmUp.Dispose();
        }

        Console.WriteLine($"idle-proxy: {sessions} idle sessions through conmgr's read_write_port to PgBouncer (transaction pooling), {concurrency} connecting at a time{(tls ? ", TLS on both hops" : string.Empty)}; RSS in KiB");
        var conmgrBefore = await Rss.StableAsync(conmgrPid, TimeSpan.FromSeconds(60));
        var pgbouncerBefore = await Rss.StableAsync(pgbouncer.Pid, TimeSpan.FromSeconds(60));
        var descriptorsBefore = OpenFiles.Count(conmgrPid);

        for (var cycle = 1; cycle <= cycles; cycle++)
        {
            List<PgWire> clients;
            try
            {
                clients = await ConnectAllAsync(rw, sessions, concurrency, caFile);
            }
            catch (Exception ex)
            {
                Console.WriteLine($"idle-proxy: connecting failed with {OpenFiles.Count(conmgrPid)} descriptors open in conmgr: {ex.Message}\nconmgr's first session ends, warnings and errors:\n{string.Join('\n', node.Log.Split('\n').Where(l => l.Contains("ended:", StringComparison.Ordinal) || l.Contains("WARNING", StringComparison.Ordinal) || l.Contains("ERROR", StringComparison.Ordinal)).Take(15))}");
                var log = node.Log;
                var error = log.IndexOf("ERROR:", StringComparison.Ordinal);
                Console.WriteLine(error < 0 ? "(no ERROR in conmgr's log)" : string.Join('\n', log[error..].Split('\n').Take(30)));
                throw;
            }

            try
            {
                var conmgrAfter = await Rss.StableAsync(conmgrPid, TimeSpan.FromSeconds(90));
                var pgbouncerAfter = await Rss.StableAsync(pgbouncer.Pid, TimeSpan.FromSeconds(60));
                var descriptorsAfter = OpenFiles.Count(conmgrPid);
                Report("conmgr", conmgrBefore, conmgrAfter, sessions);
                Report("pgbouncer", pgbouncerBefore, pgbouncerAfter, sessions);
                Console.WriteLine($"idle-proxy: conmgr descriptors {descriptorsBefore} -> {descriptorsAfter}");
            }
            finally
            {
                foreach (var client in clients)
                {
                    client.Dispose();
                }
            }

            try
            {
                await Poll.UntilAsync(() => OpenFiles.Count(conmgrPid) <= descriptorsBefore, TimeSpan.FromSeconds(60), "conmgr to close every session");
            }
            catch (TimeoutException)
            {
                Console.WriteLine($"idle-proxy: conmgr still has {OpenFiles.Count(conmgrPid)} descriptors (before: {descriptorsBefore}): {string.Join(", ", OpenFiles.Targets(conmgrPid).GroupBy(t => t.Split(':')[0]).Select(g => $"{g.Key} x{g.Count()}"))}");
                throw;
            }
            var conmgrEnd = await Rss.StableAsync(conmgrPid, TimeSpan.FromSeconds(90));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"idle-proxy: conmgr after every client left (cycle {cycle}): RSS {conmgrEnd} KiB ({conmgrEnd - conmgrBefore:+0;-0} KiB from before the first), descriptors {OpenFiles.Count(conmgrPid)}"));
        }
    }

    private static void Report(string name, long before, long after, int sessions) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"idle-proxy: {name,-9} RSS {before} -> {after} KiB: {(after - before) * 1024.0 / sessions:0} B per idle session"));

    /// <summary>Opens <paramref name="sessions"/> sessions: startup message out (over TLS when <paramref name="caFile"/> is given), every message in until ReadyForQuery.</summary>
    private static async Task<List<PgWire>> ConnectAllAsync(int port, int sessions, int concurrency, string? caFile)
    {
        var clients = new List<PgWire>(sessions);
        var startup = PgWire.StartupMessage(("user", "postgres"), ("database", "postgres"));
        using var gate = new SemaphoreSlim(concurrency);
        var tasks = new List<Task<PgWire>>(sessions);
        for (var i = 0; i < sessions; i++)
        {
            await gate.WaitAsync();
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    var wire = await PgWire.ConnectAsync("127.0.0.1", port);
                    if (caFile is not null)
                    {
                        await wire.SendAsync(PgWire.SslRequest);
                        _ = await wire.ReadExactlyAsync(1, TimeSpan.FromSeconds(60));
                        await wire.StartTlsAsync(caFile, timeout: TimeSpan.FromSeconds(60));
                    }

                    await wire.SendAsync(startup);
                    var messages = await wire.ReadUntilReadyAsync(TimeSpan.FromSeconds(60));
                    return messages.Any(m => m.Type == 'E') ? throw new InvalidOperationException("the session was refused with an ErrorResponse") : wire;
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        foreach (var task in tasks)
        {
            clients.Add(await task);
        }

        return clients;
    }

    /// <summary>Raises RLIMIT_NOFILE to <paramref name="wanted"/>, or as far as the hard limit allows; the soft limit it ends at.</summary>
    private static int RaiseOpenFiles(int wanted)
    {
        if (GetRLimit(RlimitNoFile, out var now) != 0)
        {
            throw new InvalidOperationException($"getrlimit failed (errno {Marshal.GetLastPInvokeError()})");
        }

        var raised = new RLimit { Current = (ulong)wanted, Maximum = Math.Max(now.Maximum, (ulong)wanted) };
        if (now.Current >= (ulong)wanted || SetRLimit(RlimitNoFile, in raised) == 0)
        {
            return (int)Math.Min(Math.Max(now.Current, (ulong)wanted), int.MaxValue);
        }

        var capped = new RLimit { Current = now.Maximum, Maximum = now.Maximum };
        return SetRLimit(RlimitNoFile, in capped) == 0 ? (int)Math.Min(now.Maximum, int.MaxValue) : (int)now.Current;
    }

    private const int RlimitNoFile = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);
}
