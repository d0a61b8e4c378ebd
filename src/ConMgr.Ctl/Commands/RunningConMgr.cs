// RunningConMgr.cs: finds the conmgr running in a directory, if any.
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Posix;

namespace ConMgr.Ctl.Commands;

/// <summary>
/// The lock says whether a conmgr is alive; the pid file says which. A pid file without a lock
/// holder is stale (left by kill -9) and is ignored.
/// </summary>
public static class RunningConMgr
{
    public static PidFile? Find(ConMgrDirectory directory)
    {
        if (!DirectoryLock.IsHeld(directory))
        {
            return null;
        }

        // The lock is taken before the pid file is written: give a starting conmgr a moment.
        for (var attempt = 0; attempt < 50; attempt++)
        {
            if (PidFile.TryRead(directory.PidFile) is { } pidFile && Libc.IsAlive(pidFile.Pid))
            {
                return pidFile;
            }

            Thread.Sleep(20);
        }

        return null;
    }

    /// <summary>Polls <paramref name="done"/> every 100 ms, printing a dot a second, until it holds or time runs out.</summary>
    public static bool WaitFor(Func<bool> done, int timeoutSeconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        var nextDot = DateTime.UtcNow.AddSeconds(1);
        while (!done())
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            if (DateTime.UtcNow >= nextDot)
            {
                Console.Write('.');
                nextDot = nextDot.AddSeconds(1);
            }

            Thread.Sleep(100);
        }

        return true;
    }
}
