// Program.cs: cm_devcluster up|down|reap: a local primary + standbys for demos, built by the test fixture.
using System.Globalization;
using System.Text;
using ConMgr.Testing;

namespace ConMgr.DevCluster;

public static class Program
{
    private const string Usage = """
        cm_devcluster creates a local PostgreSQL 15 primary with streaming standbys (the test fixture).

        Usage:
          cm_devcluster up DIRECTORY [--standbys N]   create and start, each instance with its watchdog
                                                      (shared_preload_libraries = 'watchdog'); writes DIRECTORY/cluster.env
          cm_devcluster down DIRECTORY                stop every instance and remove DIRECTORY
          cm_devcluster reap                          remove clusters left behind by dead test processes
        """;

    public static async Task<int> Main(string[] args)
    {
        try
        {
            return args switch
            {
                ["up", var directory] => await UpAsync(directory, 1),
                ["up", var directory, "--standbys", var n] when int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var standbys) => await UpAsync(directory, standbys),
                ["down", var directory] => await DownAsync(directory),
                ["reap"] => Reap(),
                _ => Help(),
            };
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException)
        {
            Console.Error.WriteLine($"cm_devcluster: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> UpAsync(string directory, int standbys)
    {
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            Console.Error.WriteLine($"cm_devcluster: directory \"{directory}\" exists and is not empty");
            return 1;
        }

        var cluster = await PgCluster.StartAsync(new PgClusterOptions { Directory = directory, Standbys = standbys, Watchdog = WatchdogMode.Launcher });
        cluster.Detach();
        var env = new StringBuilder();
        foreach (var instance in cluster.Instances)
        {
            var name = instance.Name.ToUpperInvariant();
            env.Append(CultureInfo.InvariantCulture, $"{name}_HOST={instance.Host}\n{name}_PORT={instance.Port}\n{name}_WATCHDOG_PORT={instance.WatchdogPort}\n{name}_DATA={instance.DataDirectory}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(cluster.Directory, "cluster.env"), env.ToString());
        Console.Write(env);
        return 0;
    }

    private static async Task<int> DownAsync(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        foreach (var pidFile in Directory.EnumerateFiles(directory, "postmaster.pid", SearchOption.AllDirectories))
        {
            var dataDirectory = Path.GetDirectoryName(pidFile)!;
            await ProcessRunner.RunAsync(PgBinaries.Path("pg_ctl"), ["stop", "-D", dataDirectory, "-m", "fast", "-w"], RunAs.Postgres);
        }

        StaleClusters.KillServers(directory);
        StaleClusters.RemoveDirectory(directory);
        return 0;
    }

    private static int Reap()
    {
        var reaped = StaleClusters.Reap(PgCluster.TestRoot);
        if (reaped > 0)
        {
            Console.WriteLine($"cm_devcluster: reaped {reaped} stale test director{(reaped == 1 ? "y" : "ies")}");
        }

        return 0;
    }

    private static int Help()
    {
        Console.Error.WriteLine(Usage);
        return 1;
    }
}
