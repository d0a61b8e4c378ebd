// RestartCommand.cs: cm_ctl restart: stop (if running), then start.
using ConMgr.Hosting.Control;

namespace ConMgr.Ctl.Commands;

public static class RestartCommand
{
    public static int Run(ConMgrDirectory directory, CtlOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (RunningConMgr.Find(directory) is null)
        {
            Console.Error.WriteLine("cm_ctl: conmgr is not running; starting it anyway");
        }
        else if (StopCommand.Run(directory, options with { Wait = true }) != ExitCodes.Success)
        {
            return ExitCodes.Failure;
        }

        return StartCommand.Run(directory, options);
    }
}
