// ScaleBenchmark.cs: one cm_watchdog with 1,000 or 10,000 simulated conmgr peers beating every second: CPU and RSS per peer, beside a C floor.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Heartbeat.Reactor;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// The peers are real heartbeat links (this repository's <see cref="HeartbeatReactor"/>, as conmgr
/// uses it, all peers on one reactor thread) in this process; the watchdog is the real cm_watchdog against a real instance, in its
/// own process, so its /proc counters are its own. RSS per peer = (RSS with N peers − RSS idle) / N.
/// Each round measures the watchdog and then, with the same peers' code, bench/floor/heartbeat_floor:
/// a C program that makes only the system calls the watchdog must make (one recv and one send per
/// peer-second), so the ratio says what the watchdog adds over what any implementation pays here.
/// With <c>--tls</c> the watchdog has watchdog.ssl = on and each round measures, after the
/// plaintext peers, the same number of TLS peers (SslStream and the same tunnel conmgr uses),
/// against the same watchdog settings: what TLS adds per peer.
/// </summary>
public static class ScaleBenchmark
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public static async Task RunAsync(IReadOnlyList<int> peerCounts, TimeSpan settle, TimeSpan window, int rounds, bool tls = false)
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Standalone,
            ExtraSettings = ["watchdog.max_heartbeat_connections = 20000", "max_connections = 40", "watchdog.max_connections_per_address = -1", PgCluster.Unauthenticated, .. tls ? auth.WatchdogTls("on", clientCertificates: false) : []],
        });
        var client = tls ? TlsClient(auth) : null;
        foreach (var peers in peerCounts)
        {
            var watchdogCpu = new List<double>();
            var tlsCpu = new List<double>();
            var floorCpu = new List<double>();
            for (var round = 1; round <= rounds; round++)
            {
                await using (var watchdog = await cluster.Primary.StartStandaloneWatchdogAsync())
                {
                    var m = await MeasureAsync(watchdog.Pid, cluster.Primary.WatchdogPort, peers, settle, window);
                    watchdogCpu.Add(m.UserUs + m.SystemUs);
                    Console.WriteLine(Line($"scale: {peers,6} peers, round {round}: cm_watchdog     {m}"));
                }

                if (client is not null)
                {
                    await using var watchdog = await cluster.Primary.StartStandaloneWatchdogAsync();
                    var t = await MeasureAsync(watchdog.Pid, cluster.Primary.WatchdogPort, peers, settle, window, client);
                    tlsCpu.Add(t.UserUs + t.SystemUs);
                    Console.WriteLine(Line($"scale: {peers,6} peers, round {round}: cm_watchdog TLS {t}"));
                }

                using var floor = StartFloor(out var floorPort);
                var f = await MeasureAsync(floor.Id, floorPort, peers, settle, window);
                floorCpu.Add(f.UserUs + f.SystemUs);
                Console.WriteLine(Line($"scale: {peers,6} peers, round {round}: heartbeat_floor {f}"));
                floor.Kill();
                await floor.WaitForExitAsync();
            }

            var w = Stats.Percentile(watchdogCpu, 50);
            var fl = Stats.Percentile(floorCpu, 50);
            if (tlsCpu.Count > 0)
            {
                var t = Stats.Percentile(tlsCpu, 50);
                Console.WriteLine(Line($"scale: {peers,6} peers: median CPU per peer-second: TLS {t:0.0} µs, plaintext {w:0.0} µs, ratio {t / w:0.00}; per-round ratios {string.Join(", ", tlsCpu.Zip(watchdogCpu, (a, b) => (a / b).ToString("0.00", CultureInfo.InvariantCulture)))}"));
            }

            Console.WriteLine(Line($"scale: {peers,6} peers: median CPU per peer-second: cm_watchdog {w:0.0} µs, C floor {fl:0.0} µs, ratio {w / fl:0.00}; per-round ratios {string.Join(", ", watchdogCpu.Zip(floorCpu, (a, b) => (a / b).ToString("0.00", CultureInfo.InvariantCulture)))}"));
        }
    }

    private static string Line(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed record Measurement(double UserUs, double SystemUs, long IdleRss, long Rss, int Peers, int Alive, double ClientManagedPerLink)
    {
        public override string ToString() => Line(
            $"CPU {(UserUs + SystemUs) * Peers / 1e4:0.0}% of one core = {UserUs + SystemUs:0.0} µs per peer-second (user {UserUs:0.0}, system {SystemUs:0.0}); RSS {IdleRss / 1048576.0:0.0} -> {Rss / 1048576.0:0.0} MiB = {(double)(Rss - IdleRss) / Peers:0} B per peer; {Alive} links alive; peers' side {ClientManagedPerLink:0} managed B per link");
    }

    /// <summary>TLS to the watchdog as conmgr makes it: its certificate verified against the test CA.</summary>
    private static System.Net.Security.SslClientAuthenticationOptions TlsClient(HeartbeatAuthSetup auth) =>
        new() { TargetHost = "127.0.0.1", CertificateChainPolicy = TestPki.TrustOnly(auth.Pki.CaFile) };

    private static async Task<Measurement> MeasureAsync(int pid, int port, int peers, TimeSpan settle, TimeSpan window, System.Net.Security.SslClientAuthenticationOptions? tls = null)
    {
        await Task.Delay(settle);
        var idleRss = RssBytes(pid);
        var managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        using var log = new Hosting.Logging.ServerLog(Configuration.MessageLevel.Warning, [new Hosting.Logging.StderrSink()]);
        using var reactor = new HeartbeatReactor("conmgr", TimeProvider.System, log);
        var links = await ConnectAsync(reactor, port, peers, tls);
        try
        {
            var clientManaged = (GC.GetTotalMemory(forceFullCollection: true) - managedBefore) / (double)peers;
            await Task.Delay(settle);
            var userBefore = UserSeconds(pid);
            var systemBefore = SystemSeconds(pid);
            await Task.Delay(window);
            var user = (UserSeconds(pid) - userBefore) / window.TotalSeconds;
            var system = (SystemSeconds(pid) - systemBefore) / window.TotalSeconds;
            return new Measurement(user * 1e6 / peers, system * 1e6 / peers, idleRss, RssBytes(pid), peers, links.Count(l => l.State != LinkState.Closed), clientManaged);
        }
        finally
        {
            await reactor.StopAsync(null);
        }
    }

    /// <summary>heartbeat_floor (built by bench/run.sh beside cm_bench) on a free loopback port, answering Hello as a watchdog would.</summary>
    private static Process StartFloor(out int port)
    {
        port = FreePort.Next();
        var reply = HeartbeatCodec.ToArray(new WelcomeFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion))
            .Concat(HeartbeatCodec.ToArray(new AttributesFrame(new InstanceAttributes(true, false, false, 1, 1, 0, -1, 150000, 1))))
            .ToArray();
        var beat = new byte[HeartbeatCodec.BeatLength];
        HeartbeatCodec.WriteBeat(beat, 1, 0, 0);
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "heartbeat_floor"))
        {
            RedirectStandardOutput = true,
            ArgumentList = { port.ToString(CultureInfo.InvariantCulture), ((int)Interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), Convert.ToHexString(reply), Convert.ToHexString(beat) },
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("heartbeat_floor did not start");
        if (process.StandardOutput.ReadLine() != "listening")
        {
            throw new InvalidOperationException("heartbeat_floor did not start listening");
        }

        return process;
    }

    private static async Task<List<ReactorLink>> ConnectAsync(HeartbeatReactor reactor, int port, int count, System.Net.Security.SslClientAuthenticationOptions? tls)
    {
        var links = new List<ReactorLink>(count);
        for (var i = 0; i < count; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            var linkSocket = socket;
            if (tls is not null)
            {
                var ssl = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: false));
                await ssl.AuthenticateAsClientAsync(tls);
                linkSocket = Hosting.Tls.TlsTunnel.OpenSocket(ssl, socket);
            }

            var channel = new HeartbeatChannel(linkSocket);
            var frames = await HeartbeatHandshake.ClientAsync(channel, Interval, Timeout, Random.Shared.NextInt64(1, long.MaxValue), CancellationToken.None);
            if (frames is not [WelcomeFrame, ..])
            {
                throw new InvalidOperationException($"peer {i} refused: {(frames is null ? "connection closed" : string.Join(", ", frames))}");
            }

            var remote = channel.Remote!;
            var (fd, leftover) = channel.Detach();
            var link = new ReactorLink(fd, remote, QuietPeer.Instance);
            reactor.AddEstablished(link, Interval, Timeout, leftover);
            links.Add(link);
        }

        return links;
    }

    private static long RssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>utime: the program's own code.</summary>
    internal static double UserSeconds(int pid) => StatField(pid, 11) / 100.0;

    /// <summary>stime: syscalls, and on loopback the kernel's TCP work for the peers' side of each packet it sends.</summary>
    internal static double SystemSeconds(int pid) => StatField(pid, 12) / 100.0;

    private static long StatField(int pid, int index)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[index], CultureInfo.InvariantCulture);
    }

    /// <summary>The simulated conmgrs only beat: attributes are ignored, ends are counted by the links' state.</summary>
    private sealed class QuietPeer : ILinkHandler
    {
        public static readonly QuietPeer Instance = new();

        public void OnHandshakeFrame(ReactorLink link, HeartbeatFrame frame)
        {
        }

        public void OnHandshakeExpired(ReactorLink link)
        {
        }

        public void OnHandshakeViolation(ReactorLink link, string violation)
        {
        }

        public void OnFrame(ReactorLink link, HeartbeatFrame frame)
        {
        }

        public void OnClosed(ReactorLink link, LinkVerdict verdict, bool wasUp)
        {
        }
    }
}
