// LinkCutTests.cs: a real cut between two network namespaces while a query runs: conmgr and the server both notice in time, with the heartbeat in plaintext, over mutual TLS, or with the shared secret.
using System.Globalization;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

[Collection(TimingSensitive.Name)]
public sealed class LinkCutTests
{
    private const string ClientSessions = $"select count(*) from pg_stat_activity where client_addr = '{NetworkLink.ClientAddress}' and backend_type = 'client backend'";

    /// <param name="authentication">plaintext, mutual TLS (watchdog.ssl = require, certificates both ways), or the shared secret.</param>
    [Theory]
    [InlineData("plaintext")]
    [InlineData("mutual TLS")]
    [InlineData("shared secret")]
    public async Task Cut_link_is_detected_by_conmgr_and_the_server_kills_the_client_hosts_sessions(string authentication)
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync(NetworkLink.ServerAddress);
        var (watchdogSettings, conmgrLines) = authentication switch
        {
            "mutual TLS" => (auth.WatchdogTls(), auth.ConmgrTls()),
            "shared secret" => (auth.WatchdogSecret, auth.ConmgrSecret()),
            _ => (Array.Empty<string>(), string.Empty),
        };
        await using var link = await NetworkLink.CreateAsync();
        await using var cluster = await PgCluster.StartAsync(link.ServerCluster(0, CheckAttrIntervalMs) with { ExtraSettings = watchdogSettings });
        var clientHost = new RunAs("postgres", link.ClientNamespace);
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + conmgrLines + ConMgrNode.InstanceLines(cluster), clientHost);
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the link across the namespaces");

        await using var psql = BackgroundProcess.Start(
            "psql",
            ["-X", "-h", NetworkLink.ServerAddress, "-p", cluster.Primary.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-c", "select pg_sleep(600)"],
            clientHost,
            Path.Combine(node.Directory, "psql.log"));
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(ClientSessions + " and state = 'active'") == 1, Deadline, "the query in flight");

        await link.CutAsync();
        var conmgrTask = node.WaitInstanceAsync(0, i => i.Heartbeat != "up", Deadline, "conmgr to notice the cut");
        var serverTask = Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(ClientSessions) == 0, Deadline, "the server to kill the client host's session");
        await Task.WhenAll(conmgrTask, serverTask);

        Assert.True(await conmgrTask <= ConmgrDetectionBound, $"conmgr noticed after {(await conmgrTask).TotalMilliseconds:0} ms");
        Assert.True(await serverTask <= ServerDetectionBound, $"server killed the session after {(await serverTask).TotalMilliseconds:0} ms");
        Assert.False(psql.HasExited, "psql itself cannot hear anything across the cut: only conmgr (and, later, the client library) can tell it");
        // The session can be gone before the terminator's query returns and its LOG line is written.
        await Poll.UntilAsync(
            () => File.ReadAllText(cluster.Primary.LogFile).Contains($"terminated 1 session(s) from {NetworkLink.ClientAddress}", StringComparison.Ordinal),
            Deadline,
            "the terminator's LOG line");
    }
}
