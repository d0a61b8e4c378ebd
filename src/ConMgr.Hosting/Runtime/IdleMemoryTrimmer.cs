// IdleMemoryTrimmer.cs: gives memory back to the system once a burst of work is over, so a daemon idles small.
using ConMgr.Hosting.Logging;

namespace ConMgr.Hosting.Runtime;

/// <summary>
/// The GC keeps the heap it grew during a burst (50,000 bad connections, say) as budget for the
/// next one; for a daemon that mostly idles, that is memory held for nothing. Every
/// <see cref="Period"/> this looks at how much was allocated: when a quiet period
/// (under <see cref="QuietBytes"/>) follows at least <see cref="BurstBytes"/> of allocation since
/// the last trim, it runs one aggressive, compacting collection, which decommits what the heap no
/// longer needs. Under steady load it never runs (the allocation never goes quiet); idle, it
/// runs once after the burst. Where the daemon says how many connections it holds, a quiet period
/// after at least <see cref="ReleasedConnections"/> of them ended since the last trim also trims:
/// closing 10,000 idle proxied sessions allocates little, yet frees most of the heap they held.
/// </summary>
public sealed class IdleMemoryTrimmer : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>Allocation since the last trim that makes a trim worth its pause.</summary>
    public const long BurstBytes = 8 * 1024 * 1024;

    /// <summary>Allocation within one period below which the process counts as idle.</summary>
    public const long QuietBytes = 256 * 1024;

    /// <summary>Connections ended since the last trim (from their peak) that make a trim worth its pause.</summary>
    public const int ReleasedConnections = 1000;

    private readonly ITimer _timer;
    private readonly ServerLog _log;
    private readonly Func<long> _allocated;
    private readonly Action _trim;
    private readonly Func<int>? _connections;
    private long _lastTick;
    private long _lastTrim;
    private int _peakConnections;

    /// <param name="connections">How many connections the daemon holds now, when it keeps that count.</param>
    public IdleMemoryTrimmer(ServerLog log, TimeProvider time, Func<int>? connections = null)
        : this(log, time, () => GC.GetTotalAllocatedBytes(), Trim, connections)
    {
    }

    /// <summary>For tests: the allocation counter and the trim itself are injected.</summary>
    public IdleMemoryTrimmer(ServerLog log, TimeProvider time, Func<long> allocated, Action trim, Func<int>? connections = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _log = log;
        _allocated = allocated;
        _trim = trim;
        _connections = connections;
        _lastTick = _lastTrim = allocated();
        _peakConnections = connections?.Invoke() ?? 0;
        _timer = time.CreateTimer(_ => Tick(), null, Period, Period);
    }

    public void Dispose() => _timer.Dispose();

    /// <summary>
    /// A compacting collection, then glibc's malloc_trim: native memory freed by the sessions
    /// (OpenSSL's per-connection state behind each SslStream, tens of kilobytes) stays in malloc's
    /// arenas otherwise, and the process keeps it after every TLS client left.
    /// </summary>
    private static void Trim()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Posix.Libc.MallocTrim();
    }

    private void Tick()
    {
        var now = _allocated();
        var quiet = now - _lastTick < QuietBytes;
        _lastTick = now;
        var sinceTrim = now - _lastTrim;
        var connections = _connections?.Invoke() ?? 0;
        _peakConnections = Math.Max(_peakConnections, connections);
        var released = _peakConnections - connections;
        if (quiet && (sinceTrim >= BurstBytes || released >= ReleasedConnections))
        {
            // Logged at LOG with its pause: a blocking collection stops every managed thread, the
            // heartbeat's too, so an operator must be able to tell it from a network fault.
            var heapBefore = GC.GetGCMemoryInfo().HeapSizeBytes;
            var pausedBefore = GC.GetTotalPauseDuration();
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            _trim();
            var took = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            var paused = GC.GetTotalPauseDuration() - pausedBefore;
            _lastTick = _lastTrim = _allocated();
            _peakConnections = connections;
            _log.Log($"idle after {sinceTrim / 1024 / 1024} MiB allocated and {released} connections ended: memory given back to the system (a compacting collection paused every thread for {paused.TotalMilliseconds:0.0} ms; {took.TotalMilliseconds:0.0} ms in all with malloc_trim; heap {heapBefore / 1024 / 1024} -> {GC.GetGCMemoryInfo().HeapSizeBytes / 1024 / 1024} MiB)");
        }
    }
}
