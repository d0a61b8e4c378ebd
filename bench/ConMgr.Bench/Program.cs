// Program.cs: cm_bench detection|scale|connect|pool|web-mix|failover|fuzz|memory|proxy|preauth|idle-proxy|http-load|heartbeat-flood: the benchmarks whose results docs/benchmarks.md records.
using System.Globalization;

namespace ConMgr.Bench;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        switch (args)
        {
            case ["detection", ..]:
                await DetectionBenchmark.RunAsync(
                    cuts: Option(args, "--cuts", 20),
                    interval: TimeSpan.FromMilliseconds(Option(args, "--interval-ms", 200)),
                    timeout: TimeSpan.FromMilliseconds(Option(args, "--timeout-ms", 1000)),
                    tcpWindow: TimeSpan.FromSeconds(Option(args, "--tcp-window-s", 30)),
                    authentication: Text(args, "--auth") ?? "plaintext",
                    tcpBaseline: !args.Contains("--no-tcp-baseline"));
                return 0;
            case ["soak", ..]:
                return await SoakBenchmark.RunAsync(
                    phase: TimeSpan.FromSeconds(Option(args, "--seconds", 900)),
                    phases: Text(args, "--phases") ?? "unix,proxy,hogs,storm,rt",
                    interval: TimeSpan.FromMilliseconds(Option(args, "--interval-ms", 200)),
                    timeout: TimeSpan.FromMilliseconds(Option(args, "--timeout-ms", 1000)),
                    sleepers: Option(args, "--sleepers", 8),
                    cuts: Option(args, "--cuts", 10));
            case ["scale", ..]:
                var peers = args.SkipWhile(a => a != "--peers").Skip(1).FirstOrDefault() ?? "1000,10000";
                await ScaleBenchmark.RunAsync(
                    [.. peers.Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture))],
                    settle: TimeSpan.FromSeconds(Option(args, "--settle-s", 5)),
                    window: TimeSpan.FromSeconds(Option(args, "--window-s", 20)),
                    rounds: Option(args, "--rounds", 3),
                    tls: args.Contains("--tls"));
                return 0;
            case ["failover", ..]:
                await FailoverBenchmark.RunAsync(Option(args, "--rounds", 5), Option(args, "--check-attr-interval-ms", 1000), Option(args, "--npgsql-timeout-s", 5));
                return 0;
            case ["failover-round", ..]:
                return await FailoverBenchmark.RoundAsync(args);
            case ["memory", ..]:
                var jit = Array.IndexOf(args, "--jit-bin") is var j and >= 0 && j + 1 < args.Length ? args[j + 1] : null;
                await MemoryBenchmark.RunAsync(Option(args, "--connections", 50_000), Option(args, "--concurrency", 500), jit);
                return 0;
            case ["fuzz", ..]:
                return await FuzzBenchmark.RunAsync(TimeSpan.FromSeconds(Option(args, "--seconds", 300)), Option(args, "--seed", Environment.TickCount));
            case ["proxy", ..]:
                await ProxyBenchmark.RunAsync(Option(args, "--rounds", 5), Option(args, "--seconds", 20), args.SkipWhile(a => a != "--modes").Skip(1).FirstOrDefault() ?? "select,single,connect", args.SkipWhile(a => a != "--paths").Skip(1).FirstOrDefault(), args.Contains("--tls"));
                return 0;
            case ["preauth", ..]:
                await PreauthBenchmark.RunAsync(Option(args, "--rounds", 5), Option(args, "--seconds", 10), Option(args, "--flood-seconds", 10));
                return 0;
            case ["txpool", ..]:
                await TransactionPoolBenchmark.RunAsync(Option(args, "--rounds", 3), Option(args, "--seconds", 10), [.. (args.SkipWhile(a => a != "--clients").Skip(1).FirstOrDefault() ?? "16,64,256").Split(',').Select(c => int.Parse(c, System.Globalization.CultureInfo.InvariantCulture))]);
                return 0;
            case ["idle-proxy", ..]:
                await IdleProxyBenchmark.RunAsync(Option(args, "--sessions", 10_000), Option(args, "--concurrency", 64), args.Contains("--tls"), Option(args, "--cycles", 1));
                return 0;
            case ["http-load", ..]:
                await HttpLoadBenchmark.RunAsync(Option(args, "--rounds", 6), Option(args, "--seconds", 15), Option(args, "--rate", 1000), Option(args, "--cuts", 20));
                return 0;
            case ["http-generate", ..]:
                return await HttpLoad.GenerateAsync(Option(args, "--port", 0), Option(args, "--rate", 1000), Option(args, "--seconds", 60));
            case ["heartbeat-flood", ..]:
                await HeartbeatFloodBenchmark.RunAsync(Option(args, "--rounds", 3), Option(args, "--seconds", 10), Option(args, "--workers", 16));
                return 0;
            case ["pool", ..]:
                await PoolBenchmark.RunAsync(Option(args, "--rounds", 5), Option(args, "--seconds", 10), Option(args, "--workers", 8));
                return 0;
            case ["web-mix", ..]:
                await WebMixBenchmark.RunAsync(Option(args, "--seconds", 60), Option(args, "--workers", 4), Option(args, "--failover-at", 30));
                return 0;
            case ["connect", ..]:
                await ConnectBenchmark.RunAsync(Option(args, "--rounds", 300), quiesce: !args.Contains("--back-to-back"));
                return 0;
            default:
                Console.Error.WriteLine("usage: cm_bench soak [--seconds 900] [--phases unix,proxy,hogs,storm,rt] [--interval-ms 200] [--timeout-ms 1000] [--sleepers 8] [--cuts 10]\n       cm_bench detection [--cuts 20] [--interval-ms 200] [--timeout-ms 1000] [--tcp-window-s 30] [--auth plaintext|tls|secret] [--no-tcp-baseline]\n       cm_bench scale [--peers 1000,10000] [--settle-s 5] [--window-s 20] [--rounds 3] [--tls]\n       cm_bench connect [--rounds 300] [--back-to-back]\n       cm_bench pool [--rounds 5] [--seconds 10] [--workers 8]\n       cm_bench web-mix [--seconds 60] [--workers 4] [--failover-at 30]\n       cm_bench failover [--rounds 5] [--check-attr-interval-ms 1000] [--npgsql-timeout-s 5]\n       cm_bench fuzz [--seconds 300] [--seed N]\n       cm_bench proxy [--rounds 5] [--seconds 20] [--modes select,single,connect] [--paths direct,conmgr,pgbouncer,haproxy] [--tls]\n       cm_bench preauth [--rounds 5] [--seconds 10] [--flood-seconds 10]\n       cm_bench txpool [--rounds 3] [--seconds 10] [--clients 16,64,256]\n       cm_bench memory [--connections 50000] [--concurrency 500] [--jit-bin DIR]\n       cm_bench idle-proxy [--sessions 10000] [--concurrency 64] [--tls] [--cycles 1]\n       cm_bench http-load [--rounds 6] [--seconds 15] [--rate 1000] [--cuts 20]\n       cm_bench heartbeat-flood [--rounds 3] [--seconds 10] [--workers 16]");
                return 1;
        }
    }

    private static string? Text(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
