// LinkCutQueryTests.cs: a long query through ConMgr.Client fails within heartbeat_timeout + 500 ms when the link is cut.
using System.Globalization;
using System.Text.RegularExpressions;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Transparent;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed partial class LinkCutQueryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Long_query_fails_fast_as_a_transient_error_when_the_link_is_cut()
    {
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(0, TransparentCluster.CheckAttrIntervalMs));
        var clientHost = new RunAs("postgres", link.ClientNamespace);
        await using var node = await ConMgrNode.CreateAsync("heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\n" + ConMgrNode.InstanceLines(cluster), clientHost);
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Heartbeat == "up" && s.Role == "primary", TransparentCluster.Deadline, "the link");

        var connectionString = $"Host=127.0.0.1:{node.Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres;Target Session Attributes=read-write;Timeout=5;Command Timeout=0";
        await using var probe = BackgroundProcess.Start(RepoPaths.Executable("cm_client_probe"), [connectionString, "select pg_sleep(600)"], clientHost, Path.Combine(node.Directory, "probe.log"));
        await Poll.UntilAsync(() => probe.Log.Contains("running", StringComparison.Ordinal), TransparentCluster.Deadline, "the probe's query to start");
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(600)' and state = 'active'") == 1, TransparentCluster.Deadline, "the query in flight");

        await link.CutAsync();
        var failed = await Poll.UntilAsync(() => probe.Log.Contains("failed", StringComparison.Ordinal), TransparentCluster.Deadline, "the query to fail");

        Assert.True(failed <= Timeout + TimeSpan.FromMilliseconds(500), $"query failed {failed.TotalMilliseconds:0} ms after the cut");
        Assert.Contains("failed transient=True", probe.Log, StringComparison.Ordinal);
        Assert.Contains("conmgr lost the heartbeat of instance 0", probe.Log, StringComparison.Ordinal);
        var afterReport = int.Parse(AfterReport().Match(probe.Log).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(afterReport, 0, 200);
    }

    [GeneratedRegex("ms_after_report=(-?[0-9]+)")]
    private static partial Regex AfterReport();
}
