// ExampleApplicationTests.cs: the documented example application (examples/ConMgr.Example) runs against a real cluster.
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Transparent;

public sealed class ExampleApplicationTests
{
    [Fact]
    public async Task Example_writes_on_the_primary_and_reads_on_the_standby_through_conmgr_and_directly()
    {
        await using var t = await TransparentCluster.StartAsync();
        var primary = t.Cluster.Primary;
        var standby = t.Cluster.Standbys[0];

        var viaConmgr = (await ProcessRunner.RunAsync(RepoPaths.Executable("cm_example"), [t.ConMgrHost], timeout: TimeSpan.FromMinutes(1))).EnsureSuccess("cm_example via conmgr");

        Assert.Contains($"wrote order 1 on 127.0.0.1:{primary.Port} (via conmgr {t.ConMgrHost})", viaConmgr.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"read 1 order(s) on the standby 127.0.0.1:{standby.Port}", viaConmgr.StandardOutput, StringComparison.Ordinal);

        // A plain PostgreSQL entry: the same program connects directly; prefer-standby falls back to the primary.
        var direct = (await ProcessRunner.RunAsync(RepoPaths.Executable("cm_example"), [$"127.0.0.1:{primary.Port}"], timeout: TimeSpan.FromMinutes(1))).EnsureSuccess("cm_example directly");

        Assert.Contains($"wrote order 2 on 127.0.0.1:{primary.Port} (directly)", direct.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"read 2 order(s) on the primary 127.0.0.1:{primary.Port}", direct.StandardOutput, StringComparison.Ordinal);
    }
}
