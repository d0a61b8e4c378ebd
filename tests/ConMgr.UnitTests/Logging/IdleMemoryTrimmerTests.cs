// IdleMemoryTrimmerTests.cs: the trimmer collects once after a burst goes quiet, never under steady load, never when idle all along.
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Logging;

public sealed class IdleMemoryTrimmerTests
{
    private readonly FakeTimeProvider _time = new();
    private long _allocated;
    private int _trims;

    [Fact]
    public void A_burst_followed_by_quiet_is_trimmed_once()
    {
        using var log = new ServerLog(MessageLevel.Panic, []);
        using var trimmer = new IdleMemoryTrimmer(log, _time, () => _allocated, () => _trims++);

        _allocated += 20 * IdleMemoryTrimmer.BurstBytes;
        _time.Advance(IdleMemoryTrimmer.Period);
        Assert.Equal(0, _trims);

        _time.Advance(IdleMemoryTrimmer.Period);
        Assert.Equal(1, _trims);

        _time.Advance(IdleMemoryTrimmer.Period * 10);
        Assert.Equal(1, _trims);
    }

    [Fact]
    public void A_trim_is_logged_at_log_with_the_pause_it_caused()
    {
        var sink = new RecordingSink();
        using var log = new ServerLog(MessageLevel.Log, [sink], _time);
        using var trimmer = new IdleMemoryTrimmer(log, _time, () => _allocated, () => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true));

        _allocated += 2 * IdleMemoryTrimmer.BurstBytes;
        _time.Advance(IdleMemoryTrimmer.Period);
        _time.Advance(IdleMemoryTrimmer.Period);
        log.Flush();

        var line = Assert.Single(sink.Lines);
        Assert.Matches(@"^idle after 16 MiB allocated and 0 connections ended: memory given back to the system \(a compacting collection paused every thread for \d+\.\d ms; \d+\.\d ms in all with malloc_trim; heap \d+ -> \d+ MiB\)$", line);
    }

    [Fact]
    public void Steady_load_is_never_interrupted()
    {
        using var log = new ServerLog(MessageLevel.Panic, []);
        using var trimmer = new IdleMemoryTrimmer(log, _time, () => _allocated, () => _trims++);

        for (var i = 0; i < 20; i++)
        {
            _allocated += IdleMemoryTrimmer.BurstBytes;
            _time.Advance(IdleMemoryTrimmer.Period);
        }

        Assert.Equal(0, _trims);
    }

    [Fact]
    public void Idle_with_small_allocations_is_left_alone()
    {
        using var log = new ServerLog(MessageLevel.Panic, []);
        using var trimmer = new IdleMemoryTrimmer(log, _time, () => _allocated, () => _trims++);

        for (var i = 0; i < 20; i++)
        {
            _allocated += IdleMemoryTrimmer.QuietBytes / 2;
            _time.Advance(IdleMemoryTrimmer.Period);
        }

        Assert.Equal(0, _trims);
    }

    [Fact]
    public void Many_connections_ending_are_trimmed_once_quiet_though_closing_them_allocated_little()
    {
        using var log = new ServerLog(MessageLevel.Panic, []);
        var connections = 0;
        using var trimmer = new IdleMemoryTrimmer(log, _time, () => _allocated, () => _trims++, () => connections);

        // 9,500 sessions open (a burst, trimmed once quiet), then stay idle.
        connections = 9500;
        _allocated += 4 * IdleMemoryTrimmer.BurstBytes;
        _time.Advance(IdleMemoryTrimmer.Period * 3);
        Assert.Equal(1, _trims);

        // 999 end: not worth a pause. Then the rest end, allocating under the burst threshold.
        connections = 8501;
        _time.Advance(IdleMemoryTrimmer.Period * 3);
        Assert.Equal(1, _trims);
        connections = 0;
        _allocated += IdleMemoryTrimmer.BurstBytes / 4;
        _time.Advance(IdleMemoryTrimmer.Period);
        Assert.Equal(1, _trims);
        _time.Advance(IdleMemoryTrimmer.Period);
        Assert.Equal(2, _trims);

        _time.Advance(IdleMemoryTrimmer.Period * 10);
        Assert.Equal(2, _trims);
    }
}
