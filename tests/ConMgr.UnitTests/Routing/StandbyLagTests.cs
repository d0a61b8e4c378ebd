// StandbyLagTests.cs: max_standby_lag in the cluster view and the router: which targets a lagging standby loses, the fallbacks, hostile positions.
using ConMgr.Protocol.Postgres;
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using static ConMgr.UnitTests.Instances.InstanceRows;

namespace ConMgr.UnitTests.Routing;

public sealed class StandbyLagTests
{
    private static readonly StandbyLagLimit SixteenMegabytes = new(16 << 20, TimeSpan.Zero);

    /// <summary>Primary at 100 MB; standby 1 has replayed all of it, standby 2 is 20 MB behind.</summary>
    private static readonly InstanceState[] Rows =
    [
        Row(0, Primary with { Lsn = 100 << 20 }),
        Row(1, Standby with { Lsn = 100 << 20, ReplayLagUs = 0 }),
        Row(2, Standby with { Lsn = 80 << 20, ReplayLagUs = 3_000_000 }),
    ];

    [Fact]
    public void Lag_is_the_primarys_position_less_the_standbys_replay_position()
    {
        var view = ClusterView.Of(Rows);
        Assert.Equal([null, 0L, 20L << 20], Rows.Select(view.LagBytesOf));
        Assert.Empty(view.Lagging);
    }

    [Theory]
    [InlineData(TargetSessionAttrs.Standby)]
    [InlineData(TargetSessionAttrs.ReadOnly)]
    [InlineData(TargetSessionAttrs.PreferStandby)]
    public void A_standby_beyond_the_limit_takes_no_read_only_target(TargetSessionAttrs target)
    {
        var router = new Router(_ => 0, SixteenMegabytes);
        Assert.All(Enumerable.Range(0, 6), _ => Assert.Equal(1, router.Choose(Rows, target).Index));
        Assert.Equal([1], router.Candidates(Rows, target).Select(c => c.Index));
    }

    [Fact]
    public void A_lagging_standby_is_still_any_instance_and_its_status_says_why_it_gets_no_read_only_sessions()
    {
        var router = new Router(_ => 0, SixteenMegabytes);
        Assert.Equal([0, 1, 2], router.Candidates(Rows, TargetSessionAttrs.Any).Select(c => c.Index));

        var view = ClusterView.Of(Rows, SixteenMegabytes);
        Assert.Equal([2], view.Lagging.Select(l => l.Index));
        Assert.StartsWith("lagging: 20971520 bytes and 3000 ms behind, beyond max_standby_lag", view.ExclusionOf(2), StringComparison.Ordinal);
    }

    [Fact]
    public void A_time_limit_acts_on_the_replay_delay_and_either_limit_is_enough()
    {
        Assert.Equal([1], new Router(_ => 0, new StandbyLagLimit(0, TimeSpan.FromSeconds(2))).Candidates(Rows, TargetSessionAttrs.Standby).Select(c => c.Index));
        Assert.Equal([1, 2], new Router(_ => 0, new StandbyLagLimit(0, TimeSpan.FromSeconds(5))).Candidates(Rows, TargetSessionAttrs.Standby).Select(c => c.Index));
        Assert.Equal([1], new Router(_ => 0, new StandbyLagLimit(64 << 20, TimeSpan.FromSeconds(2))).Candidates(Rows, TargetSessionAttrs.Standby).Select(c => c.Index));
    }

    [Fact]
    public void With_every_standby_lagging_prefer_standby_falls_back_to_the_primary_only_when_read_only_fallback_says_so()
    {
        InstanceState[] behind = [Rows[0], Rows[2]];
        Assert.Equal(0, new Router(_ => 0, SixteenMegabytes, ReadOnlyFallback.Primary).Choose(behind, TargetSessionAttrs.PreferStandby).Index);

        var refused = new Router(_ => 0, SixteenMegabytes, ReadOnlyFallback.None).Choose(behind, TargetSessionAttrs.PreferStandby);
        Assert.Null(refused.Instance);
        Assert.Contains("lagging", refused.Refusal, StringComparison.Ordinal);
        Assert.Null(new Router(_ => 0, SixteenMegabytes).Choose(behind, TargetSessionAttrs.Standby).Instance);
    }

    [Fact]
    public void Lag_never_ends_a_session_already_routed()
    {
        // The session guard asks with a view that knows no limit: a standby falling behind keeps its sessions.
        Assert.True(Router.StillMatches(ClusterView.Of(Rows), 2, TargetSessionAttrs.Standby));
    }

    [Fact]
    public void Without_exactly_one_primary_or_with_hostile_positions_the_byte_lag_is_unknown_and_never_beyond_the_limit()
    {
        var noPrimary = ClusterView.Of([Rows[1], Rows[2]], SixteenMegabytes);
        Assert.Null(noPrimary.LagBytesOf(Rows[2]));
        Assert.Empty(noPrimary.Lagging);

        InstanceState[] hostile =
        [
            Row(0, Primary with { Lsn = long.MaxValue }),
            Row(1, Standby with { Lsn = long.MinValue, ReplayLagUs = long.MaxValue }),
        ];
        var view = ClusterView.Of(hostile, SixteenMegabytes);
        Assert.Null(view.LagBytesOf(hostile[1]));
        Assert.True(ClusterView.ReplayLag(hostile[1]) > TimeSpan.FromDays(365 * 30));
        Assert.Equal([1], ClusterView.Of(hostile, new StandbyLagLimit(0, TimeSpan.FromDays(1))).Lagging.Select(l => l.Index));
    }
}
