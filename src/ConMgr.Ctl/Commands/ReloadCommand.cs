// ReloadCommand.cs: cm_ctl reload: SIGHUP, after which conmgr re-reads conmgr.conf.
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Posix;

namespace ConMgr.Ctl.Commands;

public static class ReloadCommand
{
    public static int Run(ConMgrDirectory directory)
    {
        var running = RunningConMgr.Find(directory);
        if (running is null || !Libc.Kill(running.Pid, Libc.SIGHUP))
        {
            Console.Error.WriteLine($"cm_ctl: PID file \"{directory.PidFile}\" does not exist or is stale\nIs conmgr running?");
            return ExitCodes.Failure;
        }

        Console.WriteLine("conmgr signaled");
        return ExitCodes.Success;
    }
}
