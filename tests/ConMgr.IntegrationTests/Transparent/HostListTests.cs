// HostListTests.cs: host lists mixing dead conmgrs, live conmgrs, conmgrs without a match and plain postmasters; bad resolve requests.
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

public sealed class HostListTests
{
    [Fact]
    public async Task Dead_conmgr_then_live_conmgr()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);
        var dead = $"127.0.0.1:{FreePort.Next().ToString(CultureInfo.InvariantCulture)}";

        await using var connection = await t.DataSource("read-write", $"{dead},{t.ConMgrHost}").OpenConnectionAsync();

        Assert.Equal("primary", t.InstanceOf(connection).Name);
        Assert.Equal(t.ConMgrHost, connection.GetConMgrChannel()!.ConMgr);
    }

    [Fact]
    public async Task Postmaster_first_is_connected_directly_and_checked_against_the_target()
    {
        await using var t = await TransparentCluster.StartAsync();
        var primary = $"127.0.0.1:{t.Cluster.Primary.Port.ToString(CultureInfo.InvariantCulture)}";
        var standby = $"127.0.0.1:{t.Cluster.Standbys[0].Port.ToString(CultureInfo.InvariantCulture)}";

        await using (var direct = await t.DataSource("read-write", $"{primary},{t.ConMgrHost}").OpenConnectionAsync())
        {
            Assert.Equal("primary", t.InstanceOf(direct).Name);
            Assert.Null(direct.GetConMgrSocket());
        }

        // The standby is a postmaster but fails Npgsql's read-write check: the conmgr after it answers.
        await using var viaConmgr = await t.DataSource("read-write", $"{standby},{t.ConMgrHost}").OpenConnectionAsync();
        Assert.Equal("primary", t.InstanceOf(viaConmgr).Name);
        Assert.NotNull(viaConmgr.GetConMgrSocket());
    }

    [Fact]
    public async Task Conmgr_without_a_matching_instance_passes_to_the_next_one()
    {
        await using var standbyOnly = await TransparentCluster.StartAsync(standbys: 1);
        await using var other = await ConMgrNode.CreateAsync("log_min_messages = log\nheartbeat_interval = 200ms\nheartbeat_timeout = 1s\n" + OnlyInstance(standbyOnly.Cluster.Standbys[0]));
        await other.StartAsync();
        await other.WaitInstanceAsync(0, s => s.Role == "standby", TransparentCluster.Deadline, "the second conmgr's link");
        var otherHost = $"127.0.0.1:{other.Port.ToString(CultureInfo.InvariantCulture)}";

        await using var connection = await standbyOnly.DataSource("read-write", $"{otherHost},{standbyOnly.ConMgrHost}").OpenConnectionAsync();

        Assert.Equal("primary", standbyOnly.InstanceOf(connection).Name);
        Assert.Equal(standbyOnly.ConMgrHost, connection.GetConMgrChannel()!.ConMgr);
        Assert.Contains("refusing 127.0.0.1:", other.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_matches_anywhere_gives_one_transient_error_naming_every_host()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);
        var dead = $"127.0.0.1:{FreePort.Next().ToString(CultureInfo.InvariantCulture)}";

        var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await t.DataSource("standby", $"{dead},{t.ConMgrHost}").OpenConnectionAsync());

        Assert.True(error.IsTransient);
        Assert.Contains(dead, error.Message, StringComparison.Ordinal);
        Assert.Contains($"{t.ConMgrHost} (conmgr): 08001 no instance matches target_session_attrs=standby", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pinned_request_is_answered_for_that_instance_only_and_refused_clearly_otherwise()
    {
        await using var t = await TransparentCluster.StartAsync();

        async Task<List<WireMessage>> AskAsync(string target, string instance)
        {
            using var client = await PgWire.ConnectAsync("127.0.0.1", t.Node.Port);
            await client.SendAsync(PgWire.StartupMessage(("user", "app"), ("_pq_.conmgr_resolve", "1.0"), ("_pq_.conmgr_target_session_attrs", target), ("_pq_.conmgr_instance", instance)));
            var messages = new List<WireMessage>();
            while (await client.ReadMessageAsync(TransparentCluster.Deadline) is { } message)
            {
                messages.Add(message);
                if (message.Type is 'Z' or 'E')
                {
                    break;
                }
            }

            return messages;
        }

        var standby = await AskAsync("standby", "1");
        Assert.Equal('Z', standby[^1].Type);
        Assert.Contains(standby, m => m.Type == 'S' && m.Body.AsSpan().IndexOf("conmgr_instance_number\u00001\u0000"u8) == 0);
        Assert.Contains(standby, m => m.Type == 'S' && m.Body.AsSpan().IndexOf("conmgr_candidates\u00001\u0000"u8) == 0);

        var wrongRole = await AskAsync("standby", "0");
        Assert.Equal("08001", wrongRole[^1].Fields['C']);
        Assert.StartsWith("instance 0 is not eligible: no instance matches target_session_attrs=standby", wrongRole[^1].Fields['M'], StringComparison.Ordinal);

        Assert.Equal("08001", (await AskAsync("any", "7"))[^1].Fields['C']);
        foreach (var bad in new[] { "x", "-1", "", "99999999999" })
        {
            var refused = await AskAsync("any", bad);
            Assert.Equal("22023", refused[^1].Fields['C']);
            Assert.Contains("_pq_.conmgr_instance", refused[^1].Fields['M'], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_target_gets_22023_and_plain_clients_get_a_clear_refusal()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);

        using (var client = await PgWire.ConnectAsync("127.0.0.1", t.Node.Port))
        {
            await client.SendAsync(PgWire.StartupMessage(("user", "app"), ("_pq_.conmgr_resolve", "1.0"), ("_pq_.conmgr_target_session_attrs", "writable")));
            var hello = await client.ReadMessageAsync(TransparentCluster.Deadline);
            var error = await client.ReadMessageAsync(TransparentCluster.Deadline);
            Assert.Equal('S', hello!.Type);
            Assert.Equal("22023", error!.Fields['C']);
            Assert.Null(await client.ReadMessageAsync(TransparentCluster.Deadline));
        }

        using (var psqlLike = await PgWire.ConnectAsync("127.0.0.1", t.Node.Port))
        {
            await psqlLike.SendAsync(PgWire.StartupMessage(("user", "app"), ("database", "shop")));
            var error = await psqlLike.ReadMessageAsync(TransparentCluster.Deadline);
            Assert.Equal("0A000", error!.Fields['C']);
            Assert.Equal("this is conmgr's resolve port, not a PostgreSQL server", error.Fields['M']);
        }

        // Data after the resolve answer is a protocol violation: conmgr closes.
        using (var chatty = await PgWire.ConnectAsync("127.0.0.1", t.Node.Port))
        {
            await chatty.SendAsync(PgWire.StartupMessage(("user", "app"), ("_pq_.conmgr_resolve", "1.0")));
            WireMessage? message;
            while ((message = await chatty.ReadMessageAsync(TransparentCluster.Deadline)) is { Type: 'S' })
            {
            }

            Assert.Equal('Z', message!.Type);
            await chatty.SendAsync([(byte)'Q', 0, 0, 0, 4]);
            Assert.Equal("08P01", (await chatty.ReadMessageAsync(TransparentCluster.Deadline))!.Fields['C']);
        }
    }

    private static string OnlyInstance(PgInstance instance) =>
        $"heartbeat_secret_file = '{instance.HeartbeatSecretFile}'\nbackend_hostaddr0 = '{instance.Host}'\nbackend_port0 = {instance.Port}\nwatchdog_port0 = {instance.WatchdogPort}\n";
}
