// WatchdogRestartTests.cs: a watchdog killed and restarted fails no healthy session; a killed postmaster still fails them at once.
using System.Diagnostics;
using ConMgr.Client;
using ConMgr.Hosting.Posix;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Faults;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class WatchdogRestartTests
{
    /// <summary>Room for the launcher to restart cm_watchdog (1 s after a short-lived child, plus its start).</summary>
    private const string RoomForARestart = "5s";

    private const string SleepQuery = "select pg_sleep(3)";

    [Fact]
    public async Task Kill_9_of_the_watchdog_during_a_query_fails_nothing_and_the_link_comes_back()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0, heartbeatTimeout: RoomForARestart);
        await using var source = t.DataSource("read-write");
        await using var connection = await source.OpenConnectionAsync();
        var channel = connection.GetConMgrChannel()!;
        var query = await t.InFlightAsync(connection, SleepQuery);
        var watchdog = t.Cluster.Primary.WatchdogPid!.Value;

        Libc.Kill(watchdog, Libc.SIGKILL);
        await t.Node.WaitInstanceAsync(0, s => s.Heartbeat == "interrupted" && s.Role == "primary", TransparentCluster.Deadline, "the link to be interrupted, the instance kept");
        await t.Node.WaitInstanceAsync(0, s => s.Heartbeat == "up" && s.Role == "primary", TransparentCluster.Deadline, "the link to come back");

        await query;
        Assert.NotEqual(watchdog, t.Cluster.Primary.WatchdogPid);
        Assert.False(channel.Lost.IsCancellationRequested, channel.LostReason);
        await using (var again = new NpgsqlCommand("select 1", connection))
        {
            Assert.Equal(1, await again.ExecuteScalarAsync());
        }

        Assert.Contains("re-established: the same instance", t.Node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("telling ", t.Node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("terminated", await File.ReadAllTextAsync(t.Cluster.Primary.LogFile), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kill_9_of_the_postmaster_still_fails_the_query_at_once()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0, heartbeatTimeout: RoomForARestart);
        await using var source = t.DataSource("read-write");
        await using var connection = await source.OpenConnectionAsync();
        var query = await t.InFlightAsync(connection, "select pg_sleep(60)");

        var watch = Stopwatch.StartNew();
        t.Cluster.Primary.Kill9();
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => query);

        // Far below the 5 s heartbeat_timeout: the watchdog said Goodbye for its dying instance, nothing waited for a restart.
        Assert.True(watch.Elapsed <= TimeSpan.FromSeconds(1.5), $"query failed after {watch.Elapsed.TotalMilliseconds:0} ms");
        Assert.True(error.IsTransient, error.ToString());
        await Poll.UntilAsync(() => t.Node.Log.Contains("lost: peer closed the link: instance shutting down", StringComparison.Ordinal) || t.Node.Log.Contains("is now instance unavailable", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr's LOG line for the loss");
    }

    [Fact]
    public async Task Pg_ctl_stop_is_a_loss_at_once_not_a_restart()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0, heartbeatTimeout: RoomForARestart);
        await using var source = t.DataSource("read-write");
        await using var connection = await source.OpenConnectionAsync();
        var channel = connection.GetConMgrChannel()!;

        var watch = Stopwatch.StartNew();
        await t.Cluster.Primary.StopAsync("fast");
        await Poll.UntilAsync(() => channel.Lost.IsCancellationRequested, TransparentCluster.Deadline, "the loss report");

        Assert.True(watch.Elapsed <= TimeSpan.FromSeconds(2.5), $"loss reported after {watch.Elapsed.TotalMilliseconds:0} ms (heartbeat_timeout is 5 s)");
        Assert.DoesNotContain("interrupted", t.Node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("ObjectDisposedException", await File.ReadAllTextAsync(t.Cluster.Primary.LogFile), StringComparison.Ordinal);
    }
}
