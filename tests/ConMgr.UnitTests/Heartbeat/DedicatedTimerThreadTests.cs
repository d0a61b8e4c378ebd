// DedicatedTimerThreadTests.cs: timers of the heartbeat's own thread fire there, in due order, and stop when changed or disposed.
using ConMgr.Heartbeat;
using ConMgr.Testing;

namespace ConMgr.UnitTests.Heartbeat;

public sealed class DedicatedTimerThreadTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly DedicatedTimerThread _timers = new("test timers");

    public void Dispose() => _timers.Dispose();

    [Fact]
    public async Task A_periodic_timer_fires_again_and_again_on_the_providers_own_thread()
    {
        var threads = new List<string?>();
        using var timer = _timers.CreateTimer(_ => { lock (threads) { threads.Add(Thread.CurrentThread.Name); } }, null, TimeSpan.Zero, TimeSpan.FromMilliseconds(10));

        await Poll.UntilAsync(() => { lock (threads) { return threads.Count >= 3; } }, Wait, "three firings");
        lock (threads)
        {
            Assert.All(threads, name => Assert.Equal("test timers", name));
        }
    }

    [Fact]
    public async Task A_disposed_or_stopped_timer_no_longer_fires_while_a_later_one_does()
    {
        var disposedFired = 0;
        var stoppedFired = 0;
        var disposed = _timers.CreateTimer(_ => Interlocked.Increment(ref disposedFired), null, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10));
        var stopped = _timers.CreateTimer(_ => Interlocked.Increment(ref stoppedFired), null, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(10));
        disposed.Dispose();
        Assert.True(stopped.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        Assert.False(disposed.Change(TimeSpan.Zero, TimeSpan.Zero));

        // Timers fire in due order on one thread: once the 200 ms one has, the others' times have long passed.
        var later = new TaskCompletionSource();
        using var marker = _timers.CreateTimer(_ => later.TrySetResult(), null, TimeSpan.FromMilliseconds(200), Timeout.InfiniteTimeSpan);
        await later.Task.WaitAsync(Wait);

        Assert.Equal(0, Volatile.Read(ref disposedFired));
        Assert.Equal(0, Volatile.Read(ref stoppedFired));
        stopped.Dispose();
    }

    [Fact]
    public async Task A_callback_that_throws_is_counted_and_the_thread_goes_on()
    {
        using var failing = _timers.CreateTimer(_ => throw new InvalidOperationException("bug"), null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        var after = new TaskCompletionSource();
        using var next = _timers.CreateTimer(_ => after.TrySetResult(), null, TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan);

        await after.Task.WaitAsync(Wait);
        Assert.Equal(1, _timers.Faults);
    }
}
