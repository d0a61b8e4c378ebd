// OpenFiles.cs: counts a process's open file descriptors through /proc, to prove a fuzz run leaked none.
namespace ConMgr.Testing;

public static class OpenFiles
{
    /// <summary>
    /// Open descriptors of <paramref name="pid"/> that a leak would show up as: sockets, pipes, event
    /// descriptors, files. The runtime's own lazily opened files (an assembly loaded by a code path
    /// first taken during the run, a .pdb read to format a stack trace) stay open for the life of
    /// the process by design and are not counted. The test runs as root, so any user's process is readable.
    /// </summary>
    public static int Count(int pid) => Directory.GetFileSystemEntries($"/proc/{pid}/fd").Count(fd => !IsRuntimeImage(new FileInfo(fd).LinkTarget));

    /// <summary>What each descriptor points at (socket:[inode], pipe:[...], a path), sorted: for failure messages.</summary>
    public static IReadOnlyList<string> Targets(int pid) =>
        [.. Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(fd => $"{Path.GetFileName(fd)} -> {new FileInfo(fd).LinkTarget}").Order(StringComparer.Ordinal)];

    private static bool IsRuntimeImage(string? target) =>
        target is not null && (target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".pdb", StringComparison.Ordinal) || target.Contains(".so", StringComparison.Ordinal));

    /// <summary>Waits until <paramref name="pid"/> holds no more descriptors than <paramref name="baseline"/> (closes are asynchronous).</summary>
    public static async Task WaitBackToAsync(int pid, int baseline, TimeSpan timeout, string what)
    {
        try
        {
            await Poll.UntilAsync(() => Count(pid) <= baseline, timeout, $"{what}: open descriptors back to {baseline}");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; now {Count(pid)}:\n{string.Join("\n", Targets(pid))}", ex);
        }
    }
}
