// ScaleBenchmark.cs: one cm_watchdog with 1,000 or 10,000 simulated conmgr peers beating every second: CPU and RSS per peer.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// The peers are real heartbeat links (this repository's <see cref="HeartbeatLink"/>, as conmgr
/// uses it) in this process; the watchdog is the real cm_watchdog against a real instance, in its
/// own process, so its /proc counters are its own. RSS per peer = (RSS with N peers − RSS idle) / N.
/// </summary>
public static class ScaleBenchmark
{
    public static async Task RunAsync(IReadOnlyList<int> peerCounts, TimeSpan settle, TimeSpan window)
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Standalone,
            ExtraSettings = ["watchdog.max_heartbeat_connections = 20000", "max_connections = 40"],
        });
        foreach (var peers in peerCounts)
        {
            var watchdog = await cluster.Primary.StartStandaloneWatchdogAsync();
            await Task.Delay(settle);
            var idleRss = RssBytes(watchdog.Pid);
            var idleCpu = CpuSeconds(watchdog.Pid);
            var managedBefore = GC.GetTotalMemory(forceFullCollection: true);
            var links = await ConnectAsync(cluster.Primary.WatchdogPort, peers);
            var clientManaged = (GC.GetTotalMemory(forceFullCollection: true) - managedBefore) / (double)peers;
            await Task.Delay(settle);
            var userBefore = UserSeconds(watchdog.Pid);
            var systemBefore = SystemSeconds(watchdog.Pid);
            await Task.Delay(window);
            var user = (UserSeconds(watchdog.Pid) - userBefore) / window.TotalSeconds;
            var system = (SystemSeconds(watchdog.Pid) - systemBefore) / window.TotalSeconds;
            var cpu = user + system;
            var rss = RssBytes(watchdog.Pid);
            var alive = links.Count(l => !l.Run.IsCompleted);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"scale: {peers,6} peers at 1 s: watchdog CPU {cpu * 100:0.0}% of one core ({cpu * 1e6 / peers:0.0} µs per peer-second: user {user * 1e6 / peers:0.0}, system {system * 1e6 / peers:0.0}), RSS idle {idleRss / 1048576.0:0.0} MiB -> {rss / 1048576.0:0.0} MiB = {(double)(rss - idleRss) / peers:0} bytes per peer; {alive} links alive; the peers' side (this process) holds {clientManaged:0} managed bytes per link"));
            foreach (var l in links)
            {
                l.Link.Dispose();
            }

            await watchdog.DisposeAsync();
        }
    }

    private static async Task<List<(HeartbeatLink Link, Task<string> Run)>> ConnectAsync(int port, int count)
    {
        var links = new List<(HeartbeatLink, Task<string>)>(count);
        for (var i = 0; i < count; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            var channel = new HeartbeatChannel(socket);
            var frames = await HeartbeatHandshake.ClientAsync(channel, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), Random.Shared.NextInt64(1, long.MaxValue), CancellationToken.None);
            if (frames is not [WelcomeFrame, ..])
            {
                throw new InvalidOperationException($"peer {i} refused: {(frames is null ? "connection closed" : string.Join(", ", frames))}");
            }

            var link = new HeartbeatLink(channel, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeProvider.System);
            links.Add((link, link.RunAsync(_ => { })));
        }

        return links;
    }

    private static long RssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static double CpuSeconds(int pid) => UserSeconds(pid) + SystemSeconds(pid);

    /// <summary>utime: the watchdog's own code.</summary>
    private static double UserSeconds(int pid) => StatField(pid, 11) / 100.0;

    /// <summary>stime: syscalls, and on loopback the kernel's TCP work for the peers' side of each packet it sends.</summary>
    private static double SystemSeconds(int pid) => StatField(pid, 12) / 100.0;

    private static long StatField(int pid, int index)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[index], CultureInfo.InvariantCulture);
    }
}
