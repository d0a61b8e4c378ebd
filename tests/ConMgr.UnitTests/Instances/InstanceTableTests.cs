// InstanceTableTests.cs: routing-relevant changes are queued in order, as whole-table snapshots; LSN and RTT ticks queue nothing.
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;
using ConMgr.Protocol.Heartbeat;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Instances;

public sealed class InstanceTableTests
{
    private static readonly InstanceAttributes Primary = new(true, false, false, 1, 42, 100, -1, 150000, 1);

    private readonly InstanceTable _table = new([Instance(0), Instance(1)], new FakeTimeProvider());

    [Fact]
    public void Lsn_lag_and_rtt_ticks_queue_nothing()
    {
        _table.SetUp(0, Primary);
        Drain();

        _table.SetAttributes(0, Primary with { Lsn = 200, Sequence = 2 });
        _table.SetAttributes(0, Primary with { Lsn = 300, ReplayLagUs = 5, Sequence = 3 });
        _table.SetRtt(0, TimeSpan.FromMilliseconds(1));

        Assert.Empty(Drain());
        Assert.Equal(300, _table[0].Attributes.Lsn);
    }

    [Fact]
    public void Changes_arrive_in_order_each_with_the_table_as_it_was_then()
    {
        _table.SetUp(0, Primary);
        _table.SetUp(1, Primary with { InRecovery = true });
        _table.SetDown(0, "lost");
        _table.SetAttributes(1, Primary with { InRecovery = false, Timeline = 2, Sequence = 2 });

        var snapshots = Drain();

        Assert.Equal(4, snapshots.Count);
        Assert.Equal([LinkState.Up, LinkState.Up, LinkState.Down, LinkState.Down], snapshots.Select(s => s[0].Link));
        Assert.Equal(["unknown", "standby", "standby", "primary"], snapshots.Select(s => s[1].Role));
        Assert.True(snapshots[2][0].Version > snapshots[0][0].Version, "every relevant change raises the row's version");
    }

    [Fact]
    public void An_interrupted_link_keeps_the_instance_routable_and_queues_nothing()
    {
        _table.SetUp(0, Primary);
        Drain();

        _table.SetInterrupted(0, "connection closed by peer");
        _table.SetUp(0, Primary with { Sequence = 1 });

        Assert.Empty(Drain());
        Assert.True(_table[0].Routable);
    }

    private static InstanceSettings Instance(int number) => new(number, null, "127.0.0.1", 5432 + number, 27545 + number);

    private List<IReadOnlyList<InstanceState>> Drain()
    {
        var list = new List<IReadOnlyList<InstanceState>>();
        while (_table.Changes.TryRead(out var rows))
        {
            list.Add(rows);
        }

        return list;
    }
}
