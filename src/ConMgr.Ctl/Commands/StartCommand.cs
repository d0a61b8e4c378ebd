// StartCommand.cs: cm_ctl start: launch conmgr in the background and wait until it is ready.
using System.Diagnostics;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Posix;

namespace ConMgr.Ctl.Commands;

/// <summary>
/// Starts conmgr the way pg_ctl starts postgres: through <c>/bin/sh -c "exec setsid conmgr ..."</c>,
/// so it gets its own session, stdin from /dev/null, and output appended to <c>-l</c> (or cm_ctl's own).
/// Waits (unless <c>-W</c>) until conmgr reports ready, up to <c>-t</c> seconds.
/// </summary>
public static class StartCommand
{
    public static int Run(ConMgrDirectory directory, CtlOptions options)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(options);
        if (RunningConMgr.Find(directory) is { } running)
        {
            Console.Error.WriteLine($"cm_ctl: another conmgr might be running (PID {running.Pid}) in directory \"{directory.Path}\"");
            return ExitCodes.Failure;
        }

        var conmgr = Path.Combine(AppContext.BaseDirectory, "conmgr");
        if (!File.Exists(conmgr))
        {
            Console.Error.WriteLine($"cm_ctl: program \"conmgr\" is needed by cm_ctl but was not found in the same directory as \"{Path.Combine(AppContext.BaseDirectory, "cm_ctl")}\"");
            return ExitCodes.Failure;
        }

        var redirect = options.LogFile is null ? string.Empty : " >> \"$2\" 2>&1";
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            ArgumentList = { "-c", $"exec setsid \"$0\" -D \"$1\" < /dev/null{redirect}", conmgr, directory.Path, options.LogFile ?? string.Empty },
        };
        int pid;
        using (var process = Process.Start(start))
        {
            if (process is null)
            {
                Console.Error.WriteLine("cm_ctl: could not start conmgr");
                return ExitCodes.Failure;
            }

            pid = process.Id;
        }

        if (!options.Wait)
        {
            Console.WriteLine("conmgr starting");
            return ExitCodes.Success;
        }

        Console.Write(options.Complete ? "waiting for conmgr to start and reach every instance..." : "waiting for conmgr to start and reach the primary...");
        StatusReport? report = null;
        var ready = RunningConMgr.WaitFor(
            () =>
            {
                if (!Libc.IsAlive(pid))
                {
                    return true;
                }

                report = TryGetStatus(directory);
                return IsStarted(report, options.Complete);
            },
            options.TimeoutSeconds);

        if (ready && IsStarted(report, options.Complete))
        {
            Console.WriteLine(" done\nconmgr started");
            return ExitCodes.Success;
        }

        Console.WriteLine(" stopped waiting");
        if (!Libc.IsAlive(pid))
        {
            Console.Error.WriteLine("cm_ctl: could not start conmgr\nExamine the log output.");
            return ExitCodes.Failure;
        }

        var what = report?.State != "ready" ? "conmgr did not become ready"
            : options.Complete ? "not every instance has a heartbeat yet"
            : "no primary with a heartbeat yet (use -W when conmgr.conf names no primary)";
        Console.Error.WriteLine($"cm_ctl: {what} within {options.TimeoutSeconds} s; conmgr keeps running and trying (PID {pid})");
        return ExitCodes.Failure;
    }

    /// <summary>Started means: ready, and the primary's heartbeat is up (with --complete: every instance's).</summary>
    private static bool IsStarted(StatusReport? report, bool complete) =>
        report is { State: "ready" }
        && (complete
            ? report.Instances.All(i => i.Heartbeat == "up")
            : report.Instances.Any(i => i.Heartbeat == "up" && i.Role == "primary"));

    private static StatusReport? TryGetStatus(ConMgrDirectory directory)
    {
        try
        {
            return ControlClient.GetStatusAsync(directory, TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidDataException or System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
