// Rss.cs: a process's resident memory from /proc, read once it has settled.
using System.Globalization;

namespace ConMgr.Bench;

public static class Rss
{
    /// <summary>RSS once it has not changed by more than 1 % for 12 s (or when <paramref name="limit"/> runs out).</summary>
    public static async Task<long> StableAsync(int pid, TimeSpan limit)
    {
        var started = DateTime.UtcNow;
        var last = Kib(pid, "VmRSS:");
        var stableSince = DateTime.UtcNow;
        while (DateTime.UtcNow - started < limit)
        {
            await Task.Delay(500);
            var now = Kib(pid, "VmRSS:");
            if (Math.Abs(now - last) > last / 100)
            {
                stableSince = DateTime.UtcNow;
            }

            last = now;
            if (DateTime.UtcNow - stableSince >= TimeSpan.FromSeconds(12))
            {
                break;
            }
        }

        return last;
    }

    public static long Kib(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
