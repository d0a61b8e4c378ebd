// StrangerBoundsTests.cs: what one address may hold, how lost links' terminations merge, and how per-connection lines are rate-limited.
using System.Net;
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using ConMgr.UnitTests.Logging;
using ConMgr.Watchdog.Server;
using ConMgr.Watchdog.Terminator;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Watchdog;

public sealed class StrangerBoundsTests
{
    private static readonly IPAddress Stranger = IPAddress.Parse("192.0.2.66");
    private static readonly IPAddress Conmgr = IPAddress.Parse("192.0.2.10");

    [Fact]
    public void One_address_holds_at_most_its_limit_others_keep_theirs_and_a_mapped_ipv4_is_the_same_host()
    {
        var shares = new AddressShares(2);
        Assert.True(shares.TryEnter(Stranger));
        Assert.True(shares.TryEnter(Stranger.MapToIPv6()));
        Assert.False(shares.TryEnter(Stranger));
        Assert.True(shares.TryEnter(Conmgr));

        shares.Leave(Stranger);
        Assert.True(shares.TryEnter(Stranger));
        Assert.False(shares.TryEnter(Stranger));

        var unlimited = new AddressShares(-1);
        Assert.All(Enumerable.Range(0, 10_000), _ => Assert.True(unlimited.TryEnter(Stranger)));
    }

    [Fact]
    public async Task Terminations_waiting_for_one_address_merge_into_one_and_the_latest_loss_decides_what_is_spared()
    {
        var time = new FakeTimeProvider();
        using var log = new ServerLog(MessageLevel.Log, [new RecordingSink()], time);
        var first = new TaskCompletionSource();
        var done = new List<(IPAddress Address, string Why, DateTimeOffset? Before)>();
        var calls = 0;
        await using var pending = new PendingTerminations(
            async (address, why, spare, before) =>
            {
                if (Interlocked.Increment(ref calls) == 1)
                {
                    await first.Task;
                }

                lock (done)
                {
                    done.Add((address, why, before));
                }
            },
            log,
            time);

        // The first runs (and blocks); a hundred more for the same address wait as one, half of
        // them from a dual-stack socket (::ffff:a.b.c.d is the same host).
        Assert.True(pending.Enqueue(Stranger, "loss 0", 0, null));
        await ConMgr.Testing.Poll.UntilAsync(() => Volatile.Read(ref calls) == 1, TimeSpan.FromSeconds(10), "the first termination to start");
        var reconnected = DateTimeOffset.UnixEpoch.AddDays(1);
        for (var i = 1; i <= 100; i++)
        {
            Assert.True(pending.Enqueue(i % 2 == 0 ? Stranger.MapToIPv6() : Stranger, $"loss {i}", 0, i == 100 ? reconnected : null));
        }

        Assert.True(pending.Enqueue(Conmgr, "conmgr lost", 0, null));
        Assert.Equal(99, pending.Coalesced);
        first.SetResult();
        await ConMgr.Testing.Poll.UntilAsync(() => { lock (done) { return done.Count == 3; } }, TimeSpan.FromSeconds(10), "the queue to drain");

        lock (done)
        {
            Assert.Equal([Stranger, Stranger, Conmgr], done.Select(d => d.Address));
            Assert.Equal("loss 100; 99 earlier loss(es) of this address merged into this termination", done[1].Why);
            Assert.Equal(reconnected, done[1].Before);
        }
    }

    [Fact]
    public async Task The_queue_holds_at_most_its_bound_of_addresses_and_drops_beyond_it_counted()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink();
        using var log = new ServerLog(MessageLevel.Log, [sink], time);
        var gate = new TaskCompletionSource();
        var started = 0;
        await using var pending = new PendingTerminations(
            (_, _, _, _) =>
            {
                Interlocked.Increment(ref started);
                return gate.Task;
            },
            log,
            time);

        // One running (blocked), MaxAddresses waiting, then one too many.
        var accepted = 0;
        for (var i = 0; i < PendingTerminations.MaxAddresses + 2; i++)
        {
            var address = new IPAddress([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i]);
            accepted += pending.Enqueue(address, "lost", 0, null) ? 1 : 0;
            if (i == 0)
            {
                await ConMgr.Testing.Poll.UntilAsync(() => Volatile.Read(ref started) == 1, TimeSpan.FromSeconds(10), "the first termination to be taken off the queue");
            }
        }

        Assert.Equal(1, pending.Dropped);
        Assert.Equal(PendingTerminations.MaxAddresses + 1, accepted);
        gate.SetResult();
        log.Flush();
        Assert.Contains(sink.Lines, l => l.StartsWith("terminator queue full", StringComparison.Ordinal));
    }

    [Fact]
    public void Per_connection_lines_beyond_the_window_s_share_are_counted_and_summed_with_the_last()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink();
        using var log = new ServerLog(MessageLevel.Log, [sink], time);
        using var lines = new RateLimitedLog(log, time, 3, TimeSpan.FromSeconds(10), "heartbeat link lines");
        for (var i = 0; i < 50; i++)
        {
            lines.Log($"heartbeat from conmgr 192.0.2.66 lost #{i}");
        }

        time.Advance(TimeSpan.FromSeconds(10));
        log.Flush();
        Assert.Equal(4, sink.Lines.Count);
        Assert.Equal("47 more heartbeat link lines in the last 10 s (last: heartbeat from conmgr 192.0.2.66 lost #49)", sink.Lines[^1]);
        Assert.Equal(47, lines.Suppressed);
    }
}
