// StaleClusters.cs: removes the clusters of test processes that died without cleaning up (kill -9, CI abort).
using System.Globalization;
using ConMgr.Hosting.Posix;

namespace ConMgr.Testing;

/// <summary>
/// Each fixture directory holds an owner stamp: the PID and start time of the test process.
/// A directory whose owner is gone (or whose PID was reused by another process) is stale: its
/// postmasters (with their children) and conmgr processes are killed and the directory removed.
/// </summary>
public static class StaleClusters
{
    public const string OwnerFile = "owner";

    /// <summary>"pid starttime" of this process; start time (clock ticks since boot) guards against PID reuse.</summary>
    public static string OwnerStamp() => $"{Environment.ProcessId} {StartTime(Environment.ProcessId)}";

    /// <summary>Reaps every stale cluster under <paramref name="root"/>; returns how many were removed.</summary>
    public static int Reap(string root)
    {
        if (!System.IO.Directory.Exists(root))
        {
            return 0;
        }

        var reaped = 0;
        foreach (var directory in System.IO.Directory.EnumerateDirectories(root))
        {
            try
            {
                if (IsOwnerAlive(directory))
                {
                    continue;
                }

                KillServers(directory);
                RemoveDirectory(directory);
                reaped++;
            }
            catch (IOException)
            {
                // Removed under our feet by its owner's own cleanup: nothing left to reap.
            }
        }

        return reaped;
    }

    /// <summary>Kills every postmaster (with its children) and conmgr whose directory is below <paramref name="directory"/>.</summary>
    public static void KillServers(string directory)
    {
        var pidFiles = System.IO.Directory.EnumerateFiles(directory, "postmaster.pid", SearchOption.AllDirectories)
            .Concat(System.IO.Directory.EnumerateFiles(directory, "conmgr.pid", SearchOption.AllDirectories));
        foreach (var pidFile in pidFiles)
        {
            var first = File.ReadLines(pidFile).FirstOrDefault();
            if (int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Libc.IsAlive(pid))
            {
                ProcessTree.KillAll(pid);
            }
        }
    }

    public static void RemoveDirectory(string directory)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                if (System.IO.Directory.Exists(directory))
                {
                    System.IO.Directory.Delete(directory, recursive: true);
                }

                return;
            }
            catch (IOException)
            {
                // A dying backend may still be writing: try again shortly.
                Thread.Sleep(100);
            }
        }
    }

    private static bool IsOwnerAlive(string directory)
    {
        try
        {
            var parts = File.ReadAllText(Path.Combine(directory, OwnerFile)).Split(' ');
            var pid = int.Parse(parts[0], CultureInfo.InvariantCulture);
            return Libc.IsAlive(pid) && StartTime(pid) == parts[1].Trim();
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            // No (readable) owner stamp: not ours to judge unless it is clearly abandoned.
            return File.Exists(Path.Combine(directory, OwnerFile)) || System.IO.Directory.GetLastWriteTimeUtc(directory) > DateTime.UtcNow.AddMinutes(-10);
        }
    }

    private static string StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        }
        catch (IOException)
        {
            return "gone";
        }
    }
}
