// InstanceRows.cs: instance-table rows for routing and cluster-view tests: a primary's and a standby's attributes, a row with its link up.
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.UnitTests.Instances;

public static class InstanceRows
{
    /// <summary>Available, read-write, timeline 2, system identifier 42.</summary>
    public static readonly InstanceAttributes Primary = new(true, false, false, 2, 42, 100, -1, 150000, 1);

    public static readonly InstanceAttributes Standby = Primary with { InRecovery = true };

    public static InstanceState Row(int number, InstanceAttributes attributes) =>
        new(new InstanceSettings(number, null, "127.0.0.1", 5432 + number, 27545 + number), LinkState.Up, attributes, null, DateTimeOffset.UnixEpoch, null);
}
