// PendingLeaseTests.cs: the handover of phase one's socket to the physical open: taken once, reclaimed only if untaken, never leaked.
using System.Net.Sockets;
using ConMgr.Client.Pooling;
using Npgsql;

namespace ConMgr.UnitTests.Client;

public sealed class PendingLeaseTests
{
    [Fact]
    public async Task Answer_goes_to_the_one_taker_and_then_cannot_be_reclaimed()
    {
        using var socket = NewSocket();
        var lease = new PendingLease(Pool(), early: false);
        lease.Answer(socket);

        Assert.True(lease.TryTake());
        Assert.False(lease.TryTake());
        Assert.Same(socket, await lease.SocketAsync(CancellationToken.None));
        Assert.False(lease.TryReclaim());
        Assert.True(lease.IsTaken);
    }

    [Fact]
    public void Untaken_answer_is_reclaimed_once_and_then_cannot_be_taken()
    {
        var lease = new PendingLease(Pool(), early: false);

        Assert.True(lease.TryReclaim());
        Assert.False(lease.TryReclaim());
        Assert.False(lease.TryTake());
    }

    [Fact]
    public void A_second_answer_is_closed_not_leaked()
    {
        using var first = NewSocket();
        var second = NewSocket();
        var lease = new PendingLease(Pool(), early: true);

        lease.Answer(first);
        lease.Answer(second);

        Assert.Throws<ObjectDisposedException>(() => second.Available);
        Assert.Equal(0, first.Available);
    }

    [Fact]
    public async Task A_taker_that_gave_up_has_the_late_answer_closed()
    {
        var late = NewSocket();
        var lease = new PendingLease(Pool(), early: true);
        Assert.True(lease.TryTake());
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lease.SocketAsync(cancelled.Token));

        lease.CloseWhenAnswered();
        lease.Answer(late);

        // The continuation runs on the thread pool (answers never run a waiter inline).
        await ConMgr.Testing.Poll.UntilAsync(() => IsClosed(late), TimeSpan.FromSeconds(10), "the late answer closed");
    }

    [Fact]
    public async Task The_lease_flows_to_the_open_in_its_async_flow_only()
    {
        var lease = new PendingLease(Pool(), early: false);
        PendingLease? seenInside = null;

        await Task.Run(async () =>
        {
            PendingLease.Current.Value = lease;
            await Task.Yield();
            seenInside = PendingLease.Current.Value;
        });

        Assert.Same(lease, seenInside);
        Assert.Null(PendingLease.Current.Value);
    }

    private static bool IsClosed(Socket socket)
    {
        try
        {
            _ = socket.Available;
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    private static Socket NewSocket() => new(SocketType.Stream, ProtocolType.Tcp);

    private static InstancePool Pool() => new("127.0.0.1", 1, direct: false, pooling: true, _ => NpgsqlDataSource.Create("Host=127.0.0.1;Port=1"));
}
