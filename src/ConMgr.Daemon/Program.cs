// Program.cs: conmgr's entry point: arguments, root refusal, configuration, lock, then the server.
using ConMgr.Configuration;
using ConMgr.Daemon.Server;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Posix;

namespace ConMgr.Daemon;

public static class Program
{
    public const string Version = "0.1.0";

    /// <summary>
    /// Socket completions run on .NET's epoll thread instead of hopping to the thread pool:
    /// conmgr's handlers never block, and each hop saved is latency saved on every connection
    /// (docs/benchmarks.md). The runtime reads this variable once, when the first socket is made,
    /// so setting it here, before any, gives conmgr the same behaviour whether cm_ctl, systemd or
    /// a shell started it.
    /// </summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static int Main(string[] args)
    {
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        Libc.UnignoreSignals(Libc.SIGINT, Libc.SIGQUIT, Libc.SIGHUP);
        string? directoryOption = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-D" when i + 1 < args.Length:
                    directoryOption = args[++i];
                    break;
                case "-V" or "--version":
                    Console.WriteLine($"conmgr (ConMgr) {Version}");
                    return 0;
                case "-?" or "--help":
                    Console.WriteLine("conmgr runs the ConMgr connection manager in the foreground.\n\nUsage:\n  conmgr [-D DIRECTORY]\n\nThe directory holds conmgr.conf; without -D, the environment variable CMDATA is used.\nUse cm_ctl to start it in the background.");
                    return 0;
                default:
                    Console.Error.WriteLine($"conmgr: invalid argument: \"{args[i]}\"\nTry \"conmgr --help\" for more information.");
                    return 1;
            }
        }

        if (RootRefusal.Check("conmgr", "conmgr") is { } refusal)
        {
            Console.Error.WriteLine(refusal);
            return 1;
        }

        var directory = ConMgrDirectory.Resolve(directoryOption);
        if (directory is null)
        {
            Console.Error.WriteLine("conmgr: no directory specified and environment variable CMDATA unset");
            return 1;
        }

        if (!Directory.Exists(directory.Path))
        {
            Console.Error.WriteLine($"conmgr: directory \"{directory.Path}\" does not exist");
            return 1;
        }

        ConfigLoadResult config;
        using (var bootstrap = ServerLog.Bootstrap())
        {
            if (DirectoryPermissions.Check(directory.Path) is { } badDirectory)
            {
                bootstrap.Fatal(badDirectory);
                return 1;
            }

            try
            {
                config = ConMgrConfigLoader.LoadFile(directory.ConfigFile);
            }
            catch (ConfigException ex)
            {
                bootstrap.Fatal(ex.Message);
                return 1;
            }
        }

        var settings = config.Settings;
        using var log = ServerLog.FromSettings(settings.LogMinMessages, settings.LogDestination, settings.SyslogFacility, settings.SyslogIdent);
        foreach (var warning in config.Warnings)
        {
            log.Warning(warning);
        }

        DirectoryLock? directoryLock;
        try
        {
            directoryLock = DirectoryLock.TryAcquire(directory);
        }
        catch (IOException ex)
        {
            log.Fatal(ex.Message);
            return 1;
        }

        using var ownedLock = directoryLock;
        if (directoryLock is null)
        {
            var holder = PidFile.TryRead(directory.PidFile);
            log.Fatal($"lock file \"{directory.LockFile}\" is held: another conmgr (PID {holder?.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}) is running in directory \"{directory.Path}\"");
            return 1;
        }

        using var heartbeat = new ConMgr.Heartbeat.Reactor.HeartbeatReactor("conmgr", TimeProvider.System, log);
        using var server = new ConMgrServer(directory, config, directoryLock, log, TimeProvider.System, heartbeat);
        return server.RunAsync().GetAwaiter().GetResult();
    }
}
