// RoutingTests.cs: every target_session_attrs against primary + standby, with the standby down and with the primary down.
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

public sealed class RoutingTests
{
    [Fact]
    public async Task Each_target_lands_on_the_right_instance_and_reports_it_like_PQhost()
    {
        await using var t = await TransparentCluster.StartAsync();
        var expected = new Dictionary<string, string>
        {
            ["any"] = "either",
            ["read-write"] = "primary",
            ["primary"] = "primary",
            ["prefer-primary"] = "primary",
            ["read-only"] = "standby1",
            ["standby"] = "standby1",
            ["prefer-standby"] = "standby1",
        };

        foreach (var (target, where) in expected)
        {
            await using var source = t.DataSource(target);
            await using var connection = await source.OpenConnectionAsync();
            var instance = t.InstanceOf(connection);
            Assert.True(where == "either" || instance.Name == where, $"{target} landed on {instance.Name}");
            Assert.Equal(instance.Name != "primary", await Scalar<bool>(connection, "select pg_is_in_recovery()"));
            Assert.Equal("127.0.0.1", connection.Host);
            Assert.NotNull(connection.GetConMgrSocket());
            Assert.Equal(t.ConMgrHost, connection.GetConMgrChannel()!.ConMgr);
            Assert.False(connection.GetConMgrChannel()!.OpenedEarly);

            // conmgr says whether its choice was the only candidate; only then does the next open start early.
            await using var again = await source.OpenConnectionAsync();
            Assert.Equal(target != "any", again.GetConMgrChannel()!.OpenedEarly);
            Assert.True(where == "either" || t.InstanceOf(again).Name == where, $"{target} (again) landed on {t.InstanceOf(again).Name}");
        }

        // Every connection was closed: conmgr forgets each one when it reads the close, a moment later (seen: the last one still listed).
        await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).Applications.Count == 0, TransparentCluster.Deadline, "conmgr to forget every closed connection");
    }

    [Fact]
    public async Task Conmgr_tracks_open_connections_with_their_target_and_instance()
    {
        await using var t = await TransparentCluster.StartAsync();
        await using var source = t.DataSource("read-write", pooling: false);
        await using var connection = await source.OpenConnectionAsync();

        var application = Assert.Single((await t.Node.StatusAsync()).Applications);
        Assert.Equal("read-write", application.Target);
        Assert.Equal($"127.0.0.1:{t.Cluster.Primary.Port}", application.Instance);

        await connection.CloseAsync();
        await Poll.UntilAsync(async () => (await t.Node.StatusAsync()).Applications.Count == 0, TransparentCluster.Deadline, "closing the SQL connection to end the conmgr connection");
    }

    [Fact]
    public async Task With_the_standby_down_strict_targets_fail_and_prefer_standby_falls_back()
    {
        await using var t = await TransparentCluster.StartAsync();
        await t.Cluster.Standbys[0].StopAsync();
        await t.Node.WaitInstanceAsync(1, s => s.Heartbeat != "up", TransparentCluster.Deadline, "the standby to be down");

        await using (var fallback = await t.DataSource("prefer-standby").OpenConnectionAsync())
        {
            Assert.Equal("primary", t.InstanceOf(fallback).Name);
        }

        foreach (var target in new[] { "standby", "read-only" })
        {
            var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await t.DataSource(target).OpenConnectionAsync());
            Assert.Contains($"08001 no instance matches target_session_attrs={target}", error.Message, StringComparison.Ordinal);
            Assert.Contains("instance 1 (127.0.0.1:", error.Message, StringComparison.Ordinal);
            Assert.Contains("is down (", error.Message, StringComparison.Ordinal);
            Assert.True(error.IsTransient);
        }
    }

    [Fact]
    public async Task With_the_primary_down_strict_targets_fail_and_prefer_primary_falls_back()
    {
        await using var t = await TransparentCluster.StartAsync();
        await t.Cluster.Primary.StopAsync();
        await t.Node.WaitInstanceAsync(0, s => s.Heartbeat != "up", TransparentCluster.Deadline, "the primary to be down");

        foreach (var target in new[] { "prefer-primary", "any" })
        {
            await using var fallback = await t.DataSource(target).OpenConnectionAsync();
            Assert.Equal("standby1", t.InstanceOf(fallback).Name);
        }

        foreach (var target in new[] { "primary", "read-write" })
        {
            var error = await Assert.ThrowsAsync<NpgsqlException>(async () => await t.DataSource(target).OpenConnectionAsync());
            Assert.Contains($"no instance matches target_session_attrs={target}", error.Message, StringComparison.Ordinal);
            Assert.Contains("is standby", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Load_is_balanced_evenly_across_two_standbys()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 2);
        await using var source = t.DataSource("standby", pooling: false);
        var counts = new Dictionary<string, int>();

        for (var i = 0; i < 200; i++)
        {
            await using var connection = await source.OpenConnectionAsync();
            var name = t.InstanceOf(connection).Name;
            counts[name] = counts.GetValueOrDefault(name) + 1;
            Assert.False(connection.GetConMgrChannel()!.OpenedEarly);
        }

        Assert.Equal(["standby1", "standby2"], counts.Keys.Order());
        Assert.All(counts.Values, count => Assert.InRange(count, 90, 110));
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
