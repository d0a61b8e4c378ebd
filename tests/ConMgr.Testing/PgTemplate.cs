// PgTemplate.cs: one initdb per test process, copied for every cluster's primary: initdb costs about 0.8 s here, a copy about 0.06 s.
using System.Globalization;

namespace ConMgr.Testing;

/// <summary>
/// A data directory made once by initdb (with the fixture's pg_hba.conf lines) and copied with
/// <c>cp -a</c> as each cluster's primary. The copies share one system identifier; a test that needs
/// a cluster of its own identity (the split-brain stranger) asks for a fresh initdb
/// (<see cref="PgClusterOptions.FreshInitdb"/>). The template lives under
/// <see cref="PgCluster.TestRoot"/> with this process's owner stamp, so the next run reaps it if
/// this one dies; a normal exit removes it.
/// </summary>
internal static class PgTemplate
{
    private static readonly Lazy<Task<string>> Template = new(CreateAsync);

    /// <summary>The lines every primary's pg_hba.conf gets: trust from anywhere, replication included (test clusters only).</summary>
    public const string HbaLines = "\nhost all all 0.0.0.0/0 trust\nhost all all ::/0 trust\nhost replication all 0.0.0.0/0 trust\nhost replication all ::/0 trust\n";

    /// <summary>A new data directory at <paramref name="target"/>, as initdb and the fixture's pg_hba.conf lines leave it.</summary>
    public static async Task CopyToAsync(string target, RunAs runAs)
    {
        var template = await Template.Value;
        (await ProcessRunner.RunAsync("cp", ["-a", template, target], runAs)).EnsureSuccess("copy of the template data directory");
    }

    /// <summary>initdb as the fixture has always run it.</summary>
    public static async Task InitDbAsync(string target, RunAs runAs)
    {
        (await ProcessRunner.RunAsync(
            PgBinaries.Path("initdb"),
            ["-D", target, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            runAs)).EnsureSuccess("initdb");
        await File.AppendAllTextAsync(Path.Combine(target, "pg_hba.conf"), HbaLines);
    }

    private static async Task<string> CreateAsync()
    {
        var directory = Path.Combine(PgCluster.TestRoot, $"{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-template-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, StaleClusters.OwnerFile), StaleClusters.OwnerStamp());
        if (Hosting.Posix.Libc.IsRoot)
        {
            (await ProcessRunner.RunAsync("chown", ["postgres:postgres", directory])).EnsureSuccess("chown of the template directory");
        }

        var data = Path.Combine(directory, "data");
        await InitDbAsync(data, RunAs.Postgres);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StaleClusters.RemoveDirectory(directory);
        return data;
    }
}
