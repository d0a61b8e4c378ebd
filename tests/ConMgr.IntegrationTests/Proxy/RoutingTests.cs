// RoutingTests.cs: clients that know nothing of conmgr land on the right instance through the proxy ports, or are refused at once.
using System.Diagnostics;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class RoutingTests
{
    [Fact]
    public async Task The_read_write_port_lands_on_the_primary_and_the_read_only_port_on_a_standby()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync();
        await using var _ = t;

        await using var writer = await ProxyCluster.OpenAsync(rw);
        await using var reader = await ProxyCluster.OpenAsync(ro);

        Assert.False(await ProxyCluster.ScalarAsync<bool>(writer, "select pg_is_in_recovery()"));
        Assert.Equal(t.Cluster.Primary.Port, await ProxyCluster.ScalarAsync<int>(writer, "select inet_server_port()"));
        Assert.True(await ProxyCluster.ScalarAsync<bool>(reader, "select pg_is_in_recovery()"));
        Assert.Equal(t.Cluster.Standbys[0].Port, await ProxyCluster.ScalarAsync<int>(reader, "select inet_server_port()"));

        var status = await t.Node.StatusAsync();
        Assert.Contains(status.Applications, a => a.Port == "read-write" && a.Instance == $"127.0.0.1:{t.Cluster.Primary.Port}");
        Assert.Contains(status.Applications, a => a.Port == "read-only" && a.Instance == $"127.0.0.1:{t.Cluster.Standbys[0].Port}");
        var table = await t.Node.CtlAsync("status", "-i", "application");
        Assert.Contains("read-write", table.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Psql_runs_a_script_through_the_read_write_port_and_reads_it_back_through_the_read_only_port()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync();
        await using var _ = t;

        var write = await ProxyCluster.PsqlAsync(rw, "-c", "create table proxied(id int primary key, note text)", "-c", "insert into proxied select g, md5(g::text) from generate_series(1, 1000) g", "-c", "select count(*) from proxied");
        Assert.Equal(0, write.ExitCode);
        Assert.Contains("1000", write.StandardOutput, StringComparison.Ordinal);

        await t.Cluster.WaitForReplayAsync(t.Cluster.Standbys[0]);
        var read = await ProxyCluster.PsqlAsync(ro, "-At", "-c", "select count(*), sum(id) from proxied");
        Assert.Equal(0, read.ExitCode);
        Assert.Equal("1000|500500", read.StandardOutput.Trim());
    }

    [Fact]
    public async Task With_no_eligible_instance_a_port_refuses_at_once_with_08001_naming_the_port_and_each_instance()
    {
        var (t, _, ro) = await ProxyCluster.StartAsync(standbys: 0, extraConmgrLines: "read_only_fallback = none\n");
        await using var __ = t;

        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.OpenAsync(ro));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"refused after {watch.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal("08001", error.SqlState);
        Assert.Contains("read-only port", error.MessageText, StringComparison.Ordinal);
        Assert.Contains("instance 0", error.MessageText, StringComparison.Ordinal);
        Assert.Contains("primary", error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replication_connection_is_refused_with_a_clear_error()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;

        using var wire = await PgWire.ConnectAsync("127.0.0.1", rw);
        await wire.SendAsync(PgWire.StartupMessage(("user", "postgres"), ("replication", "true")));
        var reply = await wire.ReadMessageAsync(TimeSpan.FromSeconds(10));

        Assert.NotNull(reply);
        Assert.Equal('E', reply.Type);
        Assert.Equal("0A000", reply.Fields['C']);
        Assert.Contains("replication connections are not supported", reply.Fields['M'], StringComparison.Ordinal);
        Assert.True(await wire.ClosedWithoutDataAsync(TimeSpan.FromSeconds(5)));
    }
}
