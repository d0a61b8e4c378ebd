// FailoverTests.cs: after a promotion new read-write connections land on the new primary fast, and never on a demoted one still running.
using System.Diagnostics;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class FailoverTests
{
    [Fact]
    public async Task New_read_write_connection_lands_on_the_promoted_standby_within_check_attr_interval_plus_500ms()
    {
        await using var t = await TransparentCluster.StartAsync();
        await t.Cluster.Primary.StopAsync();
        await t.Node.WaitInstanceAsync(0, s => s.Heartbeat != "up", TransparentCluster.Deadline, "the old primary to be down");
        await using var source = t.DataSource("read-write", timeoutSeconds: 2);

        await t.Cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");
        var watch = Stopwatch.StartNew();
        NpgsqlConnection? connection = null;
        while (connection is null && watch.Elapsed < TransparentCluster.Deadline)
        {
            try
            {
                connection = await source.OpenConnectionAsync();
            }
            catch (NpgsqlException)
            {
                await Task.Delay(10);
            }
        }

        await using (connection)
        {
            Assert.NotNull(connection);
            Assert.True(watch.Elapsed <= TimeSpan.FromMilliseconds(TransparentCluster.CheckAttrIntervalMs + 500), $"read-write after {watch.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal("standby1", t.InstanceOf(connection).Name);
            await using var write = new NpgsqlCommand("create table written_after_failover(i int)", connection);
            await write.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task With_two_primaries_writes_go_only_to_the_newest_timeline_and_conmgr_says_so()
    {
        await using var t = await TransparentCluster.StartAsync();
        await t.Cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");
        await t.Node.WaitInstanceAsync(1, s => s.Role == "primary" && s.Timeline == 2, TransparentCluster.Deadline, "the promoted standby on timeline 2");
        Assert.Equal(("up", "stale primary"), ((await t.Node.StatusAsync()).Instances[0].Heartbeat, (await t.Node.StatusAsync()).Instances[0].Role));

        await using var source = t.DataSource("read-write");
        for (var i = 0; i < 20; i++)
        {
            await using var connection = await source.OpenConnectionAsync();
            Assert.Equal("standby1", t.InstanceOf(connection).Name);
        }

        await using (var any = await t.DataSource("any").OpenConnectionAsync())
        {
            Assert.Equal("standby1", t.InstanceOf(any).Name);
        }

        await Poll.UntilAsync(() => t.Node.Log.Contains("LOG:  split brain: 2 instances claim to be primary; writes go only to instance 1", StringComparison.Ordinal), TransparentCluster.Deadline, "the split-brain LOG line");
        Assert.Contains("skipping instance 0 (127.0.0.1:", t.Node.Log, StringComparison.Ordinal);

        // Links closing at shutdown do not end the split brain: conmgr must not claim it is over.
        (await t.Node.CtlAsync("stop", "-m", "fast")).EnsureSuccess("cm_ctl stop");
        Assert.Contains("conmgr is shut down", t.Node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("split brain over", t.Node.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_to_a_demoted_target_is_told_and_broken()
    {
        await using var t = await TransparentCluster.StartAsync();
        await using var source = t.DataSource("standby");
        await using var connection = await source.OpenConnectionAsync();
        var channel = connection.GetConMgrChannelOrThrow();

        await t.Cluster.Standbys[0].ExecuteAsync("select pg_promote(wait => true)");

        await Poll.UntilAsync(() => channel.Lost.IsCancellationRequested, TransparentCluster.Deadline, "conmgr to report the role change");
        Assert.Contains("57P01: terminating connection: instance 1 (127.0.0.1:", channel.LostReason, StringComparison.Ordinal);
        Assert.Contains("no longer matches target_session_attrs=standby", channel.LostReason, StringComparison.Ordinal);
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(async () =>
        {
            await using var command = new NpgsqlCommand("select 1", connection);
            await command.ExecuteScalarAsync();
        });
        Assert.True(error.IsTransient);
    }
}

internal static class ChannelAssertions
{
    public static ConMgr.Client.ConMgrChannel GetConMgrChannelOrThrow(this NpgsqlConnection connection) =>
        ConMgr.Client.NpgsqlConnectionExtensions.GetConMgrChannel(connection) ?? throw new InvalidOperationException("connection did not go through conmgr");
}
