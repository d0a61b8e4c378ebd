// ProcessTree.cs: finds a process's descendants through /proc, to freeze or kill a whole PostgreSQL instance.
using System.Globalization;
using ConMgr.Hosting.Posix;

namespace ConMgr.Testing;

/// <summary>
/// PostgreSQL backends call setsid(), so a postmaster's children are not in its process group:
/// signalling "the instance" means walking the parent links in /proc.
/// </summary>
public static class ProcessTree
{
    /// <summary><paramref name="root"/> and every live descendant, parents before children.</summary>
    public static IReadOnlyList<int> Of(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ParentOf(pid) is { } parent)
            {
                parents[pid] = parent;
            }
        }

        var result = new List<int> { root };
        for (var i = 0; i < result.Count; i++)
        {
            result.AddRange(parents.Where(p => p.Value == result[i]).Select(p => p.Key));
        }

        return result;
    }

    public static void Signal(int root, int signal)
    {
        foreach (var pid in Of(root))
        {
            Libc.Kill(pid, signal);
        }
    }

    /// <summary>SIGKILL to <paramref name="root"/> and every descendant (SIGCONT first, so a frozen one dies too).</summary>
    public static void KillAll(int root)
    {
        foreach (var pid in Of(root))
        {
            Libc.Kill(pid, Libc.SIGCONT);
            Libc.Kill(pid, Libc.SIGKILL);
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
