// StopCommand.cs: cm_ctl stop: signal conmgr with the chosen shutdown mode and wait until it is gone.
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Posix;

namespace ConMgr.Ctl.Commands;

/// <summary>smart = SIGTERM, fast = SIGINT, immediate = SIGQUIT, as pg_ctl does for postgres.</summary>
public static class StopCommand
{
    public static int Run(ConMgrDirectory directory, CtlOptions options)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(options);
        var running = RunningConMgr.Find(directory);
        if (running is null)
        {
            Console.Error.WriteLine($"cm_ctl: PID file \"{directory.PidFile}\" does not exist or is stale\nIs conmgr running?");
            return ExitCodes.Failure;
        }

        var signal = options.Mode switch
        {
            "smart" => Libc.SIGTERM,
            "immediate" => Libc.SIGQUIT,
            _ => Libc.SIGINT,
        };
        if (!Libc.Kill(running.Pid, signal))
        {
            Console.Error.WriteLine($"cm_ctl: could not send stop signal (PID: {running.Pid}): no such process");
            return ExitCodes.Failure;
        }

        if (!options.Wait)
        {
            Console.WriteLine("conmgr shutting down");
            return ExitCodes.Success;
        }

        Console.Write("waiting for conmgr to shut down...");
        if (!RunningConMgr.WaitFor(() => !Libc.IsAlive(running.Pid), options.TimeoutSeconds))
        {
            Console.WriteLine(" failed");
            Console.Error.WriteLine("cm_ctl: conmgr does not shut down");
            if (options.Mode == "smart")
            {
                Console.Error.WriteLine("HINT: The \"-m fast\" option immediately disconnects applications rather than\nwaiting for them to end.");
            }

            return ExitCodes.Failure;
        }

        Console.WriteLine(" done\nconmgr stopped");
        return ExitCodes.Success;
    }
}
