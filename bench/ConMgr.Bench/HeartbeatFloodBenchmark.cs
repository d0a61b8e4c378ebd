// HeartbeatFloodBenchmark.cs: a flood of heartbeat peers failing TLS and the shared secret against one watchdog, while an authenticated conmgr's link is measured.
using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ConMgr.Testing;

namespace ConMgr.Bench;

/// <summary>
/// The watchdog accepts TLS (client certificates from the test CA) and the shared secret; an
/// authenticated conmgr beats every 200 ms with a 1 s timeout. For each round: a quiet window,
/// then one window of the same length per kind of failure, flooded by <c>workers</c> clients
/// making one failing attempt after another: a wrong proof (plaintext, 1.2), garbage where a TLS
/// handshake belongs, and a whole TLS handshake with a certificate from another CA. Measured:
/// refusals per second, the watchdog's CPU, the conmgr link's RTT (cm_ctl status, sampled every
/// 100 ms) quiet against flooded, and whether the link was ever lost. The flood runs on the same
/// 2 cores as the watchdog and conmgr, so its rate is what this machine can generate and absorb at once.
/// </summary>
public static class HeartbeatFloodBenchmark
{
    public static async Task RunAsync(int rounds, int seconds, int workers)
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            // No per-address bound: this floods the handshake itself, from conmgr's own address (StrangerTests covers the bound).
            ExtraSettings = [.. auth.WatchdogTls("on"), .. auth.WatchdogSecret, "watchdog.max_connections_per_address = -1"],
        });
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nheartbeat_connect_interval = 200ms\nlog_min_messages = log\n" + auth.ConmgrTls() + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Heartbeat == "up", TimeSpan.FromSeconds(30), "the authenticated link");
        var since = (await node.StatusAsync()).Instances[0].Since;
        var stranger = StrangerOptions(auth);
        var port = cluster.Primary.WatchdogPort;
        var window = TimeSpan.FromSeconds(seconds);
        Console.WriteLine($"heartbeat-flood: {rounds} rounds of {seconds} s quiet then {seconds} s flooded by {workers} clients; conmgr link over mutual TLS, interval 200 ms, timeout 1 s");
        var quietRtt = new List<double>();
        string[] kinds = ["wrong secret", "garbage TLS", "bad certificate"];
        var floodRtt = kinds.ToDictionary(k => k, _ => new List<double>());
        var rates = kinds.ToDictionary(k => k, _ => new List<double>());
        var cpu = kinds.ToDictionary(k => k, _ => new List<double>());
        for (var round = 1; round <= rounds; round++)
        {
            var quiet = await SampleRttAsync(node, window);
            quietRtt.AddRange(quiet);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round}: quiet: RTT ms {Stats.Summary(quiet)}"));
            for (var kind = 0; kind < kinds.Length; kind++)
            {
                var watchdog = cluster.Primary.WatchdogPid!.Value;
                var cpuBefore = CpuSeconds(watchdog);
                using var stop = new CancellationTokenSource(window);
                var attempts = new long[1];
                var clock = Stopwatch.StartNew();
                var kindNow = kind;
                var flood = Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(() => FloodAsync(port, kindNow, stranger, attempts, stop.Token))));
                var flooded = await SampleRttAsync(node, window);
                await flood;
                var elapsed = clock.Elapsed.TotalSeconds;
                var watchdogCpu = (CpuSeconds(watchdog) - cpuBefore) / elapsed;
                floodRtt[kinds[kind]].AddRange(flooded);
                rates[kinds[kind]].Add(attempts[0] / elapsed);
                cpu[kinds[kind]].Add(watchdogCpu);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round}: {kinds[kind],-15} {attempts[0] / elapsed,6:0} refused/s, watchdog CPU {watchdogCpu * 100:0}% of a core ({watchdogCpu * 1e6 / (attempts[0] / elapsed):0} µs per refusal); RTT ms {Stats.Summary(flooded)}"));
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"heartbeat-flood: quiet RTT median {Stats.Percentile(quietRtt, 50):0.000} ms, max {quietRtt.Max():0.000} ms"));
        foreach (var kind in kinds)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"heartbeat-flood: {kind,-15} median {Stats.Percentile(rates[kind], 50):0} refused/s, watchdog CPU {Stats.Percentile(cpu[kind], 50) * 100:0}%; RTT median {Stats.Percentile(floodRtt[kind], 50):0.000} ms, max {floodRtt[kind].Max():0.000} ms"));
        }

        var row = (await node.StatusAsync()).Instances[0];
        var lost = row.Heartbeat != "up" || row.Since != since || node.Log.Contains(" lost", StringComparison.Ordinal);
        var lines = File.ReadAllLines(cluster.Primary.LogFile).Count(l => l.Contains("heartbeat connection from", StringComparison.Ordinal) || l.Contains("more heartbeat connections refused", StringComparison.Ordinal));
        Console.WriteLine($"heartbeat-flood: authenticated link lost: {(lost ? "YES" : "no")}; the watchdog's log holds {lines} refusal lines for {rounds * kinds.Length} flooded windows of {seconds} s");
    }

    private static async Task FloodAsync(int port, int kind, SslClientAuthenticationOptions stranger, long[] attempts, CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            try
            {
                using var peer = await PgWire.ConnectAsync("127.0.0.1", port);
                switch (kind)
                {
                    case 0:
                        await peer.SendAsync(RawFrames.Hello(200, 1000, n, minor: 3));
                        _ = await peer.ReadMessageAsync(TimeSpan.FromSeconds(10));
                        await peer.SendAsync(RawFrames.Frame('P', RandomNumberGenerator.GetBytes(64)));
                        _ = await peer.ReadMessageAsync(TimeSpan.FromSeconds(10));
                        break;
                    case 2:
                        await using (var ssl = new SslStream(new NetworkStream(peer.Socket, ownsSocket: false)))
                        {
                            await ssl.AuthenticateAsClientAsync(stranger, stop);
                            await ssl.WriteAsync(RawFrames.Hello(200, 1000, n, minor: 3), stop);
                            _ = await ssl.ReadAsync(new byte[64], stop);
                        }

                        break;
                    default:
                        _ = await peer.SendAndDrainAsync([0x16, 0x03, 0x01, 0x00, 0x20, .. RandomNumberGenerator.GetBytes(32)], TimeSpan.FromSeconds(10));
                        break;
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
            {
                // Refused: that is the point. (TLS 1.3 reports a refused client certificate after the handshake, as a reset.)
            }

            Interlocked.Increment(ref attempts[0]);
        }
    }

    /// <summary>A client with a certificate from a CA the watchdog does not trust; it trusts the watchdog.</summary>
    private static SslClientAuthenticationOptions StrangerOptions(HeartbeatAuthSetup auth)
    {
        var policy = TestPki.TrustOnly(auth.Pki.CaFile);
        var certificate = X509Certificate2.CreateFromPemFile(auth.Stranger.Cert, auth.Stranger.Key);
        return new SslClientAuthenticationOptions { TargetHost = "127.0.0.1", CertificateChainPolicy = policy, ClientCertificates = [certificate] };
    }

    private static async Task<List<double>> SampleRttAsync(ConMgrNode node, TimeSpan window)
    {
        var samples = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < window)
        {
            if ((await node.StatusAsync()).Instances[0].LastRttMs is { } rtt)
            {
                samples.Add(rtt);
            }

            await Task.Delay(100);
        }

        return samples;
    }

    /// <summary>The process's user + system CPU time, as the scale benchmark reads it.</summary>
    private static double CpuSeconds(int pid) => ScaleBenchmark.UserSeconds(pid) + ScaleBenchmark.SystemSeconds(pid);
}
