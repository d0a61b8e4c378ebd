// Program.cs: cm_ctl's entry point: parse, refuse root, find the directory, run the command.
using ConMgr.Ctl.Commands;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Posix;

namespace ConMgr.Ctl;

public static class Program
{
    public const string Version = "0.1.0";

    private const string Usage = """
        cm_ctl is a utility to start, stop, reload, and report the status of a conmgr process.

        Usage:
          cm_ctl start   [-D DIRECTORY] [-W] [--complete] [-t SECS] [-l FILENAME]
          cm_ctl stop    [-D DIRECTORY] [-m SHUTDOWN-MODE] [-W] [-t SECS]
          cm_ctl restart [-D DIRECTORY] [-m SHUTDOWN-MODE] [-W] [-t SECS] [-l FILENAME]
          cm_ctl reload  [-D DIRECTORY]
          cm_ctl status  [-D DIRECTORY] [-i all|instance|application]

        Common options:
          -D, --directory=DIRECTORY  location of the conmgr directory (default: $CMDATA)
          -t, --timeout=SECS         seconds to wait when using -w option (default 60)
          -w, --wait                 wait until operation completes (default)
          -W, --no-wait              do not wait until operation completes
          -V, --version              output version information, then exit
          -?, --help                 show this help, then exit

        Options for start:
          -l, --log=FILENAME         write (or append) conmgr log to FILENAME
              --complete             wait for the heartbeat of every instance, not just the primary

        Options for stop and restart:
          -m, --mode=MODE            MODE can be "smart", "fast", or "immediate" (default fast)

        Shutdown modes are:
          smart       wait until no application is connected
          fast        disconnect applications with an error, then exit
          immediate   exit at once

        Options for status:
          -i, --info=WHAT            instance, application, or all (default)
        """;

    public static int Main(string[] args)
    {
        CtlOptions options;
        try
        {
            options = CtlOptions.Parse(args);
        }
        catch (UsageException ex)
        {
            Console.Error.WriteLine($"cm_ctl: {ex.Message}\nTry \"cm_ctl --help\" for more information.");
            return 1;
        }

        if (options.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }

        if (options.Version)
        {
            Console.WriteLine($"cm_ctl (ConMgr) {Version}");
            return 0;
        }

        if (RootRefusal.Check("cm_ctl", "conmgr") is { } refusal)
        {
            Console.Error.WriteLine(refusal);
            return 1;
        }

        if (options.Command is null)
        {
            Console.Error.WriteLine("cm_ctl: no operation specified\nTry \"cm_ctl --help\" for more information.");
            return 1;
        }

        var directory = ConMgrDirectory.Resolve(options.Directory);
        if (directory is null)
        {
            Console.Error.WriteLine("cm_ctl: no directory specified and environment variable CMDATA unset\nTry \"cm_ctl --help\" for more information.");
            return 1;
        }

        if (!Directory.Exists(directory.Path))
        {
            Console.Error.WriteLine($"cm_ctl: directory \"{directory.Path}\" does not exist");
            return options.Command == "status" ? ExitCodes.NoDirectory : ExitCodes.Failure;
        }

        return options.Command switch
        {
            "start" => StartCommand.Run(directory, options),
            "stop" => StopCommand.Run(directory, options),
            "restart" => RestartCommand.Run(directory, options),
            "reload" => ReloadCommand.Run(directory),
            _ => StatusCommand.Run(directory, options),
        };
    }
}
