// HealthFlipTests.cs: the health and group paths follow a stopped standby, a stopped primary, a promotion and a cut link within the bounds.
using System.Diagnostics;
using System.Text.Json;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Http;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class HealthFlipTests
{
    /// <summary>check_attr_interval (500 ms) plus the margin: role changes.</summary>
    private static readonly TimeSpan RoleBound = TimeSpan.FromMilliseconds(TransparentCluster.CheckAttrIntervalMs + 500);

    /// <summary>heartbeat_timeout (1 s) plus the margin: a silent host.</summary>
    private static readonly TimeSpan LossBound = TimeSpan.FromMilliseconds(1000 + 500);

    [Fact]
    public async Task The_paths_follow_a_stopped_standby_a_stopped_primary_and_a_promotion_within_check_attr_interval_and_500_ms()
    {
        var http = FreePort.Next();
        var (t, _, _) = await ProxyCluster.StartAsync(2, $"http_port = {http}\n");
        await using var __ = t;
        var (primary, first, second) = (t.Cluster.Primary, t.Cluster.Standbys[0], t.Cluster.Standbys[1]);
        Assert.Equal(new[] { 1, 2 }, await HttpProbe.GroupNumbersAsync(http, "/group/read-only-info"));

        // A stopped standby leaves the read-only group; the port stays ready with the other.
        await AssertWithinAsync(() => second.StopAsync("immediate"), RoleBound, async () => (await HttpProbe.GroupNumbersAsync(http, "/group/read-only-info")).SequenceEqual([1]), "standby 2 out of the read-only group");
        Assert.True(HttpProbe.IsUp(await HttpProbe.GetAsync(http, "/connection/is-ready-ro")));

        // A stopped primary: nothing can take writes.
        await AssertWithinAsync(() => primary.StopAsync("immediate"), RoleBound, async () => !await UpAsync(http, "/connection/is-ready-rw"), "is-ready-rw to answer 503");
        Assert.Empty(await HttpProbe.GroupNumbersAsync(http, "/group/read-write-info"));
        Assert.True(HttpProbe.IsUp(await HttpProbe.GetAsync(http, "/connection/is-ready")), "the read-only port can still route, so conmgr is ready");

        // The promotion: writes go to standby 1. No standby is left, so the read-only port's
        // fallback (read_only_fallback = primary) is the new primary, kept read-only.
        await AssertWithinAsync(first.PromoteAsync, RoleBound, () => UpAsync(http, "/connection/is-ready-rw"), "is-ready-rw to answer 200 after the promotion");
        Assert.Equal(new[] { 1 }, await HttpProbe.GroupNumbersAsync(http, "/group/read-write-info"));
        Assert.Equal(new[] { 1 }, await HttpProbe.GroupNumbersAsync(http, "/group/read-only-info"));
        Assert.True(await UpAsync(http, "/connection/is-ready-ro"));
    }

    [Fact]
    public async Task The_paths_follow_a_cut_link_within_the_heartbeat_timeout_and_500_ms()
    {
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(1, TransparentCluster.CheckAttrIntervalMs));
        var http = FreePort.Next();
        var clientHost = new RunAs("postgres", link.ClientNamespace);
        await using var node = await ConMgrNode.CreateAsync(
            $"heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\nlisten_addresses = '127.0.0.1'\nhttp_port = {http}\nread_only_fallback = none\n" + ConMgrNode.InstanceLines(cluster),
            clientHost);
        await node.StartAsync();
        for (var i = 0; i < 2; i++)
        {
            await node.WaitInstanceAsync(i, s => s.Heartbeat == "up" && s.Role != "unknown", TransparentCluster.Deadline, $"instance {i}'s link");
        }

        async Task<bool> Up(string path) => HttpProbe.IsUp(await HttpProbe.CurlAsync(clientHost, http, path));
        Assert.True(await Up("/connection/is-ready-ro"));

        // The standby's host goes silent; with read_only_fallback = none nothing can take read-only sessions.
        await AssertWithinAsync(() => link.CutPortsAsync(cluster.Standbys[0].Port, cluster.Standbys[0].WatchdogPort), LossBound, async () => !await Up("/connection/is-ready-ro"), "is-ready-ro to answer 503");
        Assert.True(await Up("/connection/is-ready-rw"));
        Assert.Equal("[]", (await HttpProbe.CurlAsync(clientHost, http, "/group/read-only-info")).Body);
        var status = JsonSerializer.Deserialize((await HttpProbe.CurlAsync(clientHost, http, "/status")).Body, Hosting.Control.ControlJsonContext.Default.StatusReport)!;
        Assert.Equal(("up", "unknown"), (status.Instances[0].Heartbeat, status.Instances[1].Role));

        await link.RestoreAsync();
        await Poll.UntilAsync(() => Up("/connection/is-ready-ro"), TransparentCluster.Deadline, "the standby back in the read-only group");

        // Then the primary's: no writes, yet the read-only port can route: ready.
        await AssertWithinAsync(() => link.CutPortsAsync(cluster.Primary.Port, cluster.Primary.WatchdogPort), LossBound, async () => !await Up("/connection/is-ready-rw"), "is-ready-rw to answer 503");
        Assert.True(await Up("/connection/is-ready"));
        Assert.True(await Up("/connection/is-live"));
        Assert.Equal("[]", (await HttpProbe.CurlAsync(clientHost, http, "/group/read-write-info")).Body);
    }

    /// <summary>Runs <paramref name="change"/>, then polls <paramref name="flipped"/>; fails when it took longer than <paramref name="bound"/> after the change returned.</summary>
    private static async Task AssertWithinAsync(Func<Task> change, TimeSpan bound, Func<Task<bool>> flipped, string what)
    {
        await change();
        var watch = Stopwatch.StartNew();
        await Poll.UntilAsync(flipped, TransparentCluster.Deadline, what);
        Assert.True(watch.Elapsed <= bound, $"{what} took {watch.Elapsed.TotalMilliseconds:0} ms, bound {bound.TotalMilliseconds:0} ms");
    }

    private static async Task<bool> UpAsync(int http, string path) => HttpProbe.IsUp(await HttpProbe.GetAsync(http, path));
}
