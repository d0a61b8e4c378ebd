// PromotionPushTests.cs: a promotion reaches conmgr the moment recovery ends, whatever watchdog.check_attr_interval is.
using System.Diagnostics;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Faults;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class PromotionPushTests
{
    [Fact]
    public async Task Conmgr_shows_the_new_primary_within_200ms_of_pg_promote_with_a_10s_check_interval()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 1, checkAttrIntervalMs: 10_000);
        var standby = t.Cluster.Standbys[0];

        await standby.ExecuteAsync("select pg_promote(wait => true)");
        var watch = Stopwatch.StartNew();
        await t.Node.WaitInstanceAsync(1, s => s.Role == "primary" && s.Timeline == 2, TransparentCluster.Deadline, "conmgr to see the promotion");

        Assert.True(watch.Elapsed <= TimeSpan.FromMilliseconds(200), $"conmgr saw the promotion {watch.Elapsed.TotalMilliseconds:0} ms after pg_promote() returned");
        var serverLog = await File.ReadAllTextAsync(standby.LogFile);
        Assert.Contains("watchdog promotion notifier: recovery finished; told cm_watchdog", serverLog, StringComparison.Ordinal);
    }
}
