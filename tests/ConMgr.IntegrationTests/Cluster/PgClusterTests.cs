// PgClusterTests.cs: the fixture itself: replication really streams, promote works, faults work, cleanup leaves nothing.
using ConMgr.Hosting.Posix;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Cluster;

public sealed class PgClusterTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Standby_streams_what_the_primary_writes()
    {
        await using var cluster = await PgCluster.StartAsync();

        await cluster.Primary.ExecuteAsync("create table t(v text); insert into t values ('streamed')");

        Assert.False(await cluster.Primary.IsInRecoveryAsync());
        Assert.True(await cluster.Standbys[0].IsInRecoveryAsync());
        await Poll.UntilAsync(
            async () => await cluster.Standbys[0].ScalarAsync<long>("select count(*) from pg_class where relname = 't'") == 1
                && await cluster.Standbys[0].ScalarAsync<string>("select v from t") == "streamed",
            Deadline,
            "the row to reach the standby");
        Assert.Equal("streaming", await cluster.Primary.ScalarAsync<string>("select state from pg_stat_replication where application_name = 'standby1'"));
    }

    [Fact]
    public async Task Promote_makes_the_standby_a_writable_primary_on_a_new_timeline()
    {
        await using var cluster = await PgCluster.StartAsync();
        var standby = cluster.Standbys[0];
        var before = await standby.TimelineAsync();

        await standby.PromoteAsync();

        Assert.False(await standby.IsInRecoveryAsync());
        await standby.ExecuteAsync("create table after_promote(i int); insert into after_promote values (1)");
        await Poll.UntilAsync(async () => await standby.TimelineAsync() == before + 1, Deadline, "the checkpoint to show the new timeline");
    }

    [Fact]
    public async Task Three_instances_with_two_standbys()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 2 });

        Assert.Equal(3, cluster.Instances.Count);
        Assert.Equal(2, await cluster.Primary.ScalarAsync<long>("select count(*) from pg_stat_replication where state = 'streaming'"));
        Assert.Equal(3, cluster.Instances.Select(i => i.Port).Distinct().Count());
    }

    [Fact]
    public async Task Stop_start_kill9_freeze_and_thaw()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0 });
        var primary = cluster.Primary;

        await primary.StopAsync();
        Assert.Null(primary.PostmasterPid);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => primary.ScalarAsync<int>("select 1"));

        await primary.StartAsync();
        Assert.Equal(1, await primary.ScalarAsync<int>("select 1"));

        primary.Freeze();
        try
        {
            await using var frozen = new NpgsqlConnection(primary.ConnectionString() + ";Timeout=2");
            await Assert.ThrowsAnyAsync<Exception>(() => frozen.OpenAsync());
        }
        finally
        {
            primary.Thaw();
        }

        Assert.Equal(1, await primary.ScalarAsync<int>("select 1"));

        var pid = primary.PostmasterPid!.Value;
        primary.Kill9();
        await Poll.UntilAsync(() => !Libc.IsAlive(pid), Deadline, "the killed postmaster to be gone");
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => primary.ScalarAsync<int>("select 1"));
    }

    [Fact]
    public async Task Dispose_leaves_no_process_and_no_directory()
    {
        var cluster = await PgCluster.StartAsync();
        var pids = cluster.Instances.SelectMany(i => ProcessTree.Of(i.PostmasterPid!.Value)).ToList();
        Assert.True(pids.Count >= 2 * 4, "postmasters and their auxiliary processes are running");

        await cluster.DisposeAsync();

        Assert.False(Directory.Exists(cluster.Directory));
        Assert.All(pids, pid => Assert.False(Libc.IsAlive(pid), $"process {pid} survived cleanup"));
    }

    [Fact]
    public async Task Cluster_of_a_dead_test_process_is_reaped()
    {
        var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0 });
        var pid = cluster.Primary.PostmasterPid!.Value;

        // Pretend the owning test process died: an owner stamp no live process matches.
        await File.WriteAllTextAsync(Path.Combine(cluster.Directory, StaleClusters.OwnerFile), "2147483 0");
        var reaped = StaleClusters.Reap(PgCluster.TestRoot);

        Assert.True(reaped >= 1);
        Assert.False(Directory.Exists(cluster.Directory));
        await Poll.UntilAsync(() => !Libc.IsAlive(pid), Deadline, "the reaped postmaster to be gone");
        await cluster.DisposeAsync();
    }
}
