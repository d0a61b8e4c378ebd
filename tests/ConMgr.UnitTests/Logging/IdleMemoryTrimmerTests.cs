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
}
