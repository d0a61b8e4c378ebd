// Libc.cs: the few libc calls .NET does not expose (effective uid, signals to other processes).
using System.Runtime.InteropServices;

namespace ConMgr.Hosting.Posix;

/// <summary>Thin P/Invoke layer over libc. Nothing here allocates or keeps state.</summary>
public static partial class Libc
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    private const int ESRCH = 3;

    public static bool IsRoot => geteuid() == 0;

    /// <summary>The effective user id of this process.</summary>
    public static long EffectiveUserId => geteuid();

    /// <summary>Sends <paramref name="signal"/>; false when no such process (ESRCH).</summary>
    public static bool Kill(int pid, int signal)
    {
        if (kill(pid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == ESRCH ? false : throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {errno}");
    }

    /// <summary>
    /// True when <paramref name="pid"/> is a live process. A zombie counts as dead: the machine's
    /// PID 1 may never reap an orphan, and a zombie holds no sockets or locks.
    /// </summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0 || kill(pid, 0) != 0 && Marshal.GetLastPInvokeError() == ESRCH)
        {
            return false;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var afterName = stat.LastIndexOf(')');
            return afterName < 0 || afterName + 2 >= stat.Length || stat[afterName + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// Puts <paramref name="signals"/> back to their default disposition. A process started in the
    /// background by a shell (<c>cmd &amp;</c>) inherits SIGINT and SIGQUIT ignored, one started by
    /// nohup SIGHUP, and .NET then never delivers them to a
    /// <see cref="System.Runtime.InteropServices.PosixSignalRegistration"/>: <c>cm_ctl stop -m fast</c>,
    /// <c>-m immediate</c> or <c>cm_ctl reload</c> would be silently lost (the postmaster, too,
    /// installs its handlers whatever it inherited). Call before registering handlers, and only for
    /// signals the program then handles: a signal put back to its default and not handled ends the process.
    /// </summary>
    public static void UnignoreSignals(params int[] signals)
    {
        ArgumentNullException.ThrowIfNull(signals);
        foreach (var signum in signals)
        {
            signal(signum, 0);
        }
    }

    /// <summary>The owner's user id of <paramref name="path"/> (statx: one layout on every architecture), or −1 when it cannot be read.</summary>
    public static long OwnerOf(string path)
    {
        const int AtFdCwd = -100;
        const uint StatxUid = 0x8;
        const int UidOffset = 20;
        Span<byte> buffer = stackalloc byte[256];
        return statx(AtFdCwd, path, 0, StatxUid, ref System.Runtime.InteropServices.MemoryMarshal.GetReference(buffer)) == 0
            ? System.Runtime.InteropServices.MemoryMarshal.Read<uint>(buffer[UidOffset..])
            : -1;
    }

    /// <summary>Returns free memory at the top of every malloc arena to the system (glibc's malloc_trim(0)).</summary>
    public static void MallocTrim() => _ = malloc_trim(0);

    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint signal(int signum, nint handler);

    [LibraryImport("libc", SetLastError = true)]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
