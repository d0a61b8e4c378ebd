// HttpPathTests.cs: every path of conmgr's http_port answers GET and HEAD with the cluster's state; unknown paths, other methods, a busy port, a shutdown.
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using ConMgr.Hosting.Control;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Http;

public sealed class HttpPathTests
{
    private static readonly string[] HealthPaths = ["/connection/is-live", "/connection/is-ready", "/connection/is-ready-rw", "/connection/is-ready-ro"];

    [Fact]
    public async Task Every_path_answers_get_and_head_with_what_conmgr_knows_of_the_cluster()
    {
        var http = FreePort.Next();
        var (t, rw, ro) = await ProxyCluster.StartAsync(1, $"http_port = {http}\n");
        await using var _ = t;
        var (primary, standby) = (t.Cluster.Primary, t.Cluster.Standbys[0]);
        Assert.Contains($"HTTP port: listening on IPv4 address \"127.0.0.1\", port {http}", t.Node.Log, StringComparison.Ordinal);

        foreach (var path in HealthPaths)
        {
            var get = await HttpProbe.GetAsync(http, path);
            Assert.True(HttpProbe.IsUp(get), $"{path}: {get}");
            Assert.Equal("text/plain; charset=utf-8", get.ContentType);
            var head = await HttpProbe.GetAsync(http, path, "HEAD");
            Assert.Equal((200, string.Empty), (head.Status, head.Body));
        }

        using (var writers = JsonDocument.Parse((await HttpProbe.GetAsync(http, "/group/read-write-info")).Body))
        {
            var only = Assert.Single(writers.RootElement.EnumerateArray());
            Assert.Equal(0, only.GetProperty("number").GetInt32());
            Assert.Equal("127.0.0.1", only.GetProperty("host").GetString());
            Assert.Equal(primary.Port, only.GetProperty("port").GetInt32());
            Assert.Equal("primary", only.GetProperty("role").GetString());
            Assert.Equal(JsonValueKind.Null, only.GetProperty("lag_bytes").ValueKind);
        }

        using (var readers = JsonDocument.Parse((await HttpProbe.GetAsync(http, "/group/read-only-info")).Body))
        {
            var only = Assert.Single(readers.RootElement.EnumerateArray());
            Assert.Equal((1, standby.Port, "standby"), (only.GetProperty("number").GetInt32(), only.GetProperty("port").GetInt32(), only.GetProperty("role").GetString()));
            Assert.True(only.GetProperty("lag_bytes").GetInt64() >= 0);
        }

        // /status is cm_ctl status -i all as JSON, with the sessions each instance has per port.
        await using var onPrimary = await ProxyCluster.OpenAsync(rw);
        await using var onStandby = await ProxyCluster.OpenAsync(ro);
        var status = JsonSerializer.Deserialize((await HttpProbe.GetAsync(http, "/status")).Body, ControlJsonContext.Default.StatusReport)!;
        var ctl = await t.Node.StatusAsync();
        Assert.Equal(("ready", ctl.Pid, 2), (status.State, status.Pid, status.Instances.Count));
        Assert.Equal(new SessionCounts(0, 1, 0), status.Instances[0].Sessions);
        Assert.Equal(new SessionCounts(0, 0, 1), status.Instances[1].Sessions);
        Assert.Equal(["read-only", "read-write"], status.Applications.Select(a => a.Port).Order());
        Assert.Equal(ctl.Instances.Select(i => (i.Number, i.Heartbeat, i.Role, i.Timeline)), status.Instances.Select(i => (i.Number, i.Heartbeat, i.Role, i.Timeline)));

        var metrics = await HttpProbe.GetAsync(http, "/metrics");
        Assert.Equal(200, metrics.Status);
        Assert.StartsWith("text/plain", metrics.ContentType, StringComparison.Ordinal);
        Assert.Contains("conmgr_instance_heartbeat_state{", metrics.Body, StringComparison.Ordinal);

        Assert.Equal(404, (await HttpProbe.GetAsync(http, "/connection/is-dead")).Status);
        Assert.Equal(405, (await HttpProbe.GetAsync(http, "/connection/is-live", "POST")).Status);
    }

    [Fact]
    public async Task During_a_smart_shutdown_every_health_path_but_is_live_answers_503()
    {
        var http = FreePort.Next();
        var (t, rw, _) = await ProxyCluster.StartAsync(1, $"http_port = {http}\n");
        await using var __ = t;
        await using var session = await ProxyCluster.OpenAsync(rw);

        Assert.Equal(0, (await t.Node.CtlAsync("stop", "-m", "smart", "-W")).ExitCode);
        await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).State == "stopping", TransparentCluster.Deadline, "the smart shutdown to begin");

        Assert.True(HttpProbe.IsUp(await HttpProbe.GetAsync(http, "/connection/is-live")));
        foreach (var path in HealthPaths.Skip(1))
        {
            Assert.False(HttpProbe.IsUp(await HttpProbe.GetAsync(http, path)), path);
        }

        // The session is not touched by the shutdown, nor by the health paths' answers.
        Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(session, "select 1"));
    }

    [Fact]
    public async Task An_http_port_in_use_stops_conmgr_from_starting_with_a_fatal_message()
    {
        using var squatter = new TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var http = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;
        await using var node = await ConMgrNode.CreateAsync($"backend_hostaddr0 = '127.0.0.1'\nlisten_addresses = '127.0.0.1'\nhttp_port = {http.ToString(CultureInfo.InvariantCulture)}\nlog_min_messages = log\n");

        var start = await node.CtlAsync("start", "-l", node.LogFile);

        Assert.NotEqual(0, start.ExitCode);
        Assert.Contains($"FATAL:  could not listen on http_port {http.ToString(CultureInfo.InvariantCulture)}", node.Log, StringComparison.Ordinal);
        Assert.Null(node.Pid);
    }
}
