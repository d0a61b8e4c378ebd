// ClusterViewTests.cs: split brain across and within a timeline, and an instance of another cluster, decided in one place.
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;
using ConMgr.Protocol.Heartbeat;
using static ConMgr.UnitTests.Instances.InstanceRows;

namespace ConMgr.UnitTests.Instances;

public sealed class ClusterViewTests
{
    [Fact]
    public void Two_primaries_on_the_newest_timeline_are_contested_and_none_is_eligible()
    {
        var view = ClusterView.Of([Row(0, Primary), Row(1, Primary), Row(2, Standby)]);

        Assert.Empty(view.Primaries);
        Assert.Equal([0, 1], view.Contested.Select(c => c.Index));
        Assert.Equal([2], view.Eligible.Select(e => e.Index));
        Assert.Equal("contested primary", view.RoleOf(0, Row(0, Primary)));
        Assert.StartsWith("split brain: instances 0 and 1 are all primaries on timeline 2", view.ExclusionOf(1), StringComparison.Ordinal);
    }

    [Fact]
    public void An_older_timeline_is_stale_and_the_newest_single_primary_wins()
    {
        var view = ClusterView.Of([Row(0, Primary with { Timeline = 1 }), Row(1, Primary)]);

        Assert.Equal([1], view.Primaries.Select(p => p.Index));
        Assert.Equal([0], view.Stale.Select(s => s.Index));
        Assert.Empty(view.Contested);
    }

    [Fact]
    public void The_system_identifier_most_instances_report_is_the_clusters()
    {
        var view = ClusterView.Of([Row(0, Standby with { SystemIdentifier = 7 }), Row(1, Primary), Row(2, Standby)]);

        Assert.Equal(42, view.SystemIdentifier);
        Assert.Equal([0], view.Foreign.Select(f => f.Index));
        Assert.DoesNotContain(view.Eligible, e => e.Index == 0);
        Assert.Equal("foreign", view.RoleOf(0, Row(0, Standby)));
        Assert.Contains("system identifier 7 differs from the cluster's 42", view.ExclusionOf(0), StringComparison.Ordinal);
    }

    [Fact]
    public void On_a_tie_the_lowest_numbered_instance_decides()
    {
        var view = ClusterView.Of([Row(0, Primary with { SystemIdentifier = 7 }), Row(1, Standby)]);

        Assert.Equal(7, view.SystemIdentifier);
        Assert.Equal([1], view.Foreign.Select(f => f.Index));
    }

    [Fact]
    public void An_interrupted_link_stays_eligible_a_down_one_does_not()
    {
        var view = ClusterView.Of([Row(0, Primary) with { Link = LinkState.Interrupted }, Row(1, Standby) with { Link = LinkState.Down }]);

        Assert.Equal([0], view.Eligible.Select(e => e.Index));
    }
}
