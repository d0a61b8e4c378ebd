// ScramBench.cs: what the benchmarks with a SCRAM user share: the role and its pg_hba.conf line on the primary, pgbench's tables, and conmgr_hba.conf.
using ConMgr.Testing;

namespace ConMgr.Bench;

internal static class ScramBench
{
    /// <summary>The password of the role <c>bench</c>.</summary>
    public const string Password = "bench password";

    /// <summary>Creates <c>bench</c> with a SCRAM secret, has the server ask it for SCRAM from every address, and loads pgbench's tables at <paramref name="scale"/>.</summary>
    public static async Task PreparePrimaryAsync(PgInstance primary, int scale)
    {
        ArgumentNullException.ThrowIfNull(primary);
        await primary.ExecuteAsync($"set password_encryption = 'scram-sha-256'; create role bench login password '{Password}'; grant pg_read_all_data to bench");
        var hba = Path.Combine(primary.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, "host all bench 0.0.0.0/0 scram-sha-256\n" + await File.ReadAllTextAsync(hba));
        await primary.ExecuteAsync("select pg_reload_conf()");
        (await ProxyBenchmark.PgBenchAsync("127.0.0.2", primary.Port, ["-i", "-q", "-s", scale.ToString(System.Globalization.CultureInfo.InvariantCulture)])).EnsureSuccess("pgbench -i");
    }

    /// <summary>conmgr_hba.conf in <paramref name="scratch"/> asking every loopback client for SCRAM; the directory is given to postgres, whom conmgr runs as.</summary>
    public static async Task<string> ConmgrHbaAsync(ScratchDirectory scratch)
    {
        ArgumentNullException.ThrowIfNull(scratch);
        var hbaFile = Path.Combine(scratch.Path, "conmgr_hba.conf");
        await File.WriteAllTextAsync(hbaFile, "host all all 127.0.0.1/32 scram-sha-256\n");
        await ProcessRunner.RunAsync("chown", ["-R", "postgres", scratch.Path], RunAs.Self);
        return hbaFile;
    }
}
