// RouterTests.cs: least-outstanding choice with round-robin ties, read against counts that change while it reads them.
using ConMgr.Protocol.Postgres;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using static ConMgr.UnitTests.Instances.InstanceRows;

namespace ConMgr.UnitTests.Routing;

public sealed class RouterTests
{
    private static readonly InstanceState[] Rows = [Row(0, Primary), Row(1, Standby), Row(2, Standby)];

    [Fact]
    public void The_standby_with_fewest_outstanding_connections_wins_and_ties_rotate()
    {
        var outstanding = new[] { 0, 3, 3 };
        var router = new Router(i => outstanding[i]);

        var picks = Enumerable.Range(0, 4).Select(_ => router.Choose(Rows, TargetSessionAttrs.Standby).Index).ToList();
        Assert.Equal(2, picks.Distinct().Count());
        Assert.All(picks, p => Assert.Contains(p, new[] { 1, 2 }));

        outstanding[2] = 2;
        Assert.Equal(2, router.Choose(Rows, TargetSessionAttrs.Standby).Index);
    }

    /// <summary>
    /// Found at 9,500 concurrent proxied connections: the counts were read once for the minimum and
    /// again to find who had it; a connection ending in between left nobody tied, and the
    /// round-robin divided by zero.
    /// </summary>
    [Fact]
    public void Counts_that_change_between_reads_still_give_a_choice()
    {
        var reads = 0;
        var router = new Router(i => i == 1 ? reads++ : 5); // instance 1's count grows at every read

        for (var i = 0; i < 100; i++)
        {
            var route = router.Choose(Rows, TargetSessionAttrs.Standby);
            Assert.Null(route.Refusal);
            Assert.Contains(route.Index, new[] { 1, 2 });
        }
    }

    [Fact]
    public void A_pinned_request_gets_its_instance_if_eligible_and_a_refusal_naming_it_otherwise()
    {
        var router = new Router(_ => 0);

        var pinned = router.Choose(Rows, TargetSessionAttrs.Standby, only: Rows[2].Settings.Number);
        Assert.Equal((2, 2), (pinned.Index, pinned.Candidates)); // the count stays the target's, for the client's forecast

        var refused = router.Choose(Rows, TargetSessionAttrs.Standby, only: Rows[0].Settings.Number);
        Assert.Null(refused.Instance);
        Assert.StartsWith($"instance {Rows[0].Settings.Number} is not eligible: no instance matches target_session_attrs=standby", refused.Refusal, StringComparison.Ordinal);

        Assert.Null(router.Choose(Rows, TargetSessionAttrs.Any, only: 99).Instance);
    }
}
