// ThreadScheduling.cs: a real scheduling priority for the heartbeat thread, where the process may have one (Thread.Priority does nothing on Linux).
using System.Runtime.InteropServices;

namespace ConMgr.Hosting.Posix;

/// <summary>
/// .NET's <c>Thread.Priority</c> is ignored on Linux (and under Native AOT). The heartbeat thread
/// asks the kernel instead, for itself only: first SCHED_RR at priority 1, the lowest real-time
/// priority (it then runs before every ordinary thread, and the kernel's real-time throttling
/// still leaves 5 % of each second to them); failing that, nice −10. Both need CAP_SYS_NICE (or,
/// for nice, an RLIMIT_NICE that allows it): a unit file grants it with
/// <c>AmbientCapabilities=CAP_SYS_NICE</c> (examples/systemd). Without it the thread keeps the
/// ordinary priority, and the start-up log says so. The thread only ever blocks in epoll_wait
/// and does a few non-blocking socket calls per beat, so a raised priority costs others nothing.
/// </summary>
public static partial class ThreadScheduling
{
    private const int SchedRr = 2;
    private const int PrioProcess = 0;
    private const int RaisedNice = -10;

    /// <summary>Raises the calling thread's priority as far as allowed; returns what it got, for the log.</summary>
    public static string RaiseCurrentThread()
    {
        var tid = gettid();
        var param = 1;
        if (sched_setscheduler(tid, SchedRr, ref param) == 0)
        {
            return "SCHED_RR priority 1";
        }

        var rtError = Marshal.GetLastPInvokeError();
        if (setpriority(PrioProcess, (uint)tid, RaisedNice) == 0)
        {
            return $"nice {RaisedNice} (SCHED_RR refused: errno {rtError})";
        }

        var niceError = Marshal.GetLastPInvokeError();
        return $"ordinary priority: SCHED_RR and nice {RaisedNice} need CAP_SYS_NICE (errno {rtError}, {niceError})";
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int gettid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, ref int param);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, uint who, int prio);
}
