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
/// runs once after the burst.
/// </summary>
public sealed class IdleMemoryTrimmer : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>Allocation since the last trim that makes a trim worth its pause.</summary>
    public const long BurstBytes = 8 * 1024 * 1024;

    /// <summary>Allocation within one period below which the process counts as idle.</summary>
    public const long QuietBytes = 256 * 1024;

    private readonly ITimer _timer;
    private readonly ServerLog _log;
    private readonly Func<long> _allocated;
    private readonly Action _trim;
    private long _lastTick;
    private long _lastTrim;

    public IdleMemoryTrimmer(ServerLog log, TimeProvider time)
        : this(log, time, () => GC.GetTotalAllocatedBytes(), Trim)
    {
    }

    /// <summary>For tests: the allocation counter and the trim itself are injected.</summary>
    public IdleMemoryTrimmer(ServerLog log, TimeProvider time, Func<long> allocated, Action trim)
    {
        ArgumentNullException.ThrowIfNull(time);
        _log = log;
        _allocated = allocated;
        _trim = trim;
        _lastTick = _lastTrim = allocated();
        _timer = time.CreateTimer(_ => Tick(), null, Period, Period);
    }

    public void Dispose() => _timer.Dispose();

    private static void Trim() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    private void Tick()
    {
        var now = _allocated();
        var quiet = now - _lastTick < QuietBytes;
        _lastTick = now;
        var sinceTrim = now - _lastTrim;
        if (quiet && sinceTrim >= BurstBytes)
        {
            _trim();
            _lastTick = _lastTrim = _allocated();
            _log.Debug($"idle after {sinceTrim / 1024 / 1024} MiB allocated: memory given back to the system");
        }
    }
}
