// HttpLoad.cs: a fixed rate of GETs on conmgr's HTTP port (half /connection/is-ready-rw, half /metrics), for the HTTP load benchmark.
using System.Diagnostics;
using System.Globalization;

namespace ConMgr.Bench;

/// <summary>
/// Sends <c>rate</c> requests per second in ticks of 10 ms over keep-alive connections, at most
/// 64 in flight (a request that would exceed that is counted as skipped, so a slow port shows as
/// a shortfall instead of an ever-growing queue). Runs in the benchmark's process, or as
/// <c>cm_bench http-generate</c> inside a network namespace.
/// </summary>
public static class HttpLoad
{
    private static readonly string[] Paths = ["/connection/is-ready-rw", "/metrics"];

    public sealed class Counts
    {
        private long _ok;
        private long _failed;
        private long _skipped;

        public long Ok => Interlocked.Read(ref _ok);

        public long Failed => Interlocked.Read(ref _failed);

        public long Skipped => Interlocked.Read(ref _skipped);

        public void AddOk() => Interlocked.Increment(ref _ok);

        public void AddFailed() => Interlocked.Increment(ref _failed);

        public void AddSkipped() => Interlocked.Increment(ref _skipped);

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Ok} ok, {Failed} failed, {Skipped} skipped");
    }

    public static async Task<Counts> RunAsync(string host, int port, int rate, CancellationToken cancellationToken, Action<Counts, TimeSpan>? everySecond = null)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        using var inFlight = new SemaphoreSlim(64);
        var counts = new Counts();
        var perTick = Math.Max(1, rate / 100);
        var sent = 0L;
        var watch = Stopwatch.StartNew();
        var nextReport = TimeSpan.FromSeconds(1);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                // Catch up with the wall clock: a late tick sends what the missed ones would have.
                var due = (long)(watch.Elapsed.TotalSeconds * rate) - sent;
                for (var i = 0; i < Math.Min(due, perTick * 10); i++, sent++)
                {
                    if (!inFlight.Wait(0))
                    {
                        counts.AddSkipped();
                        continue;
                    }

                    var path = Paths[sent % Paths.Length];
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            using var response = await client.GetAsync(new Uri($"http://{host}:{port}{path}"), CancellationToken.None);
                            _ = await response.Content.ReadAsByteArrayAsync(CancellationToken.None);
                            if (response.IsSuccessStatusCode)
                            {
                                counts.AddOk();
                            }
                            else
                            {
                                counts.AddFailed();
                            }
                        }
                        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                        {
                            counts.AddFailed();
                        }
                        finally
                        {
                            inFlight.Release();
                        }
                    }, CancellationToken.None);
                }

                if (watch.Elapsed >= nextReport)
                {
                    everySecond?.Invoke(counts, watch.Elapsed);
                    nextReport += TimeSpan.FromSeconds(1);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        // Let what is in flight finish, so the counts are whole.
        for (var i = 0; i < 64; i++)
        {
            await inFlight.WaitAsync(TimeSpan.FromSeconds(5));
        }

        return counts;
    }

    /// <summary><c>cm_bench http-generate --port P --rate R --seconds S</c>: prints the counts every second.</summary>
    public static async Task<int> GenerateAsync(int port, int rate, int seconds)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var counts = await RunAsync("127.0.0.1", port, rate, stop.Token, (c, t) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"http-generate: {t.TotalSeconds:0} s: {c}")));
        Console.WriteLine($"http-generate: done: {counts}");
        return 0;
    }
}
