// MemoryBenchmark.cs: resident memory of an idle conmgr, at the peak of a burst of bad connections, and after it; PgBouncer beside it.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// Each daemon listens on loopback with one unreachable backend. Idle RSS is read after it has
/// settled; then <c>connections</c> clients, <c>concurrency</c> at a time, each send an HTTP
/// request line (an invalid startup packet) and read until the daemon closes; the peak is
/// VmHWM; "after" is read once RSS has been stable for 12 s (at most 90 s after the burst), which
/// is longer than two periods of conmgr's idle memory trimmer. The
/// same run measures conmgr as built (Native AOT), optionally a JIT build of the same code,
/// and PgBouncer from Debian when it is installed.
/// </summary>
public static class MemoryBenchmark
{
    private static readonly byte[] BadPacket = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n");

    public static async Task RunAsync(int connections, int concurrency, string? jitBin)
    {
        Console.WriteLine($"memory: {connections} bad connections, {concurrency} at a time; RSS in MiB");
        await MeasureConmgrAsync("conmgr (Native AOT)", RepoPaths.Bin, connections, concurrency);
        if (jitBin is not null)
        {
            await MeasureConmgrAsync("conmgr (JIT build)", jitBin, connections, concurrency);
        }

        if (File.Exists("/usr/sbin/pgbouncer"))
        {
            await MeasurePgBouncerAsync(connections, concurrency);
        }
    }

    private static async Task MeasureConmgrAsync(string name, string bin, int connections, int concurrency)
    {
        var port = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync($"port = {port}\nmax_connections = 0\nlog_min_messages = fatal\nbackend_hostaddr0 = '127.0.0.1'\nbackend_port0 = 1\nwatchdog_port0 = 1\n");
        await using var process = BackgroundProcess.Start(Path.Combine(bin, "conmgr"), ["-D", node.Directory], node.RunAs, node.LogFile);
        await node.WaitReadyAsync();
        await ReportAsync(name, process.Pid, port, connections, concurrency);
    }

    private static async Task MeasurePgBouncerAsync(int connections, int concurrency)
    {
        using var scratch = new ScratchDirectory("pgbouncer");
        var directory = scratch.Path;
        var (process, port) = await PgBouncerPeer.StartAsync(directory, "127.0.0.1", 1, "max_client_conn = 100000");
        await using var _ = process;
        await ReportAsync("pgbouncer 1.18 (Debian)", process.Pid, port, connections, concurrency);
    }

    private static async Task ReportAsync(string name, int pid, int port, int connections, int concurrency)
    {
        var idle = await Rss.StableAsync(pid, TimeSpan.FromSeconds(60));
        await BurstAsync(port, connections, concurrency);
        var peak = Rss.Kib(pid, "VmHWM:");
        var after = await Rss.StableAsync(pid, TimeSpan.FromSeconds(90));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-24} idle {idle / 1024.0,5:0.0}  peak {peak / 1024.0,5:0.0}  after {after / 1024.0,5:0.0}  after/idle {after / (double)idle:0.00}"));
    }

    private static async Task BurstAsync(int port, int connections, int concurrency)
    {
        using var gate = new SemaphoreSlim(concurrency);
        var tasks = new List<Task>(connections);
        for (var i = 0; i < connections; i++)
        {
            await gate.WaitAsync();
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await socket.ConnectAsync(IPAddress.Loopback, port, cts.Token);
                    await socket.SendAsync(BadPacket, SocketFlags.None, cts.Token);
                    var buffer = new byte[512];
                    while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
                    {
                    }
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                {
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        await Task.WhenAll(tasks);
    }
}
