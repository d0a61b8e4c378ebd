// Program.cs: cm_watchdog's entry point: arguments, root refusal, settings from the instance, then serve until signalled.
using System.Globalization;
using System.Runtime.InteropServices;
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Network;
using ConMgr.Hosting.Posix;
using ConMgr.Http;
using ConMgr.Watchdog.Attributes;
using ConMgr.Watchdog.Diagnostics;
using ConMgr.Watchdog.Http;
using ConMgr.Watchdog.Instance;
using ConMgr.Watchdog.Peers;
using ConMgr.Watchdog.Server;
using ConMgr.Watchdog.Terminator;

namespace ConMgr.Watchdog;

public static class Program
{
    public const string Version = "0.1.0";

    /// <summary>SIGUSR1, sent by the watchdog library's promotion notifier (raw signal numbers are allowed on Unix).</summary>
    private const PosixSignal PromotionSignal = (PosixSignal)10;

    private const string Usage = """
        cm_watchdog runs beside one PostgreSQL instance: heartbeat server for conmgr processes,
        attribute checker, and terminator of the sessions of hosts whose heartbeat is lost.

        Usage:
          cm_watchdog -D DATADIR [options]      instance on this host (Unix socket from postmaster.pid)
          cm_watchdog -d CONNSTRING [options]   any instance (an Npgsql connection string)

        Options:
          -p, --port=PORT               listen port (default: the instance's watchdog.port, 27545)
              --http-port=PORT          HTTP health port, Patroni's paths (default: watchdog.http_port; 0 = off)
              --log-min-messages=LEVEL  DEBUG, INFO, NOTICE, WARNING (default), ERROR, LOG, FATAL, PANIC
          -V, --version                 output version information, then exit
          -?, --help                    show this help, then exit

        Started by the watchdog library (shared_preload_libraries = 'watchdog') it runs with -D.
        """;

    public static async Task<int> Main(string[] args)
    {
        Libc.UnignoreSignals(Libc.SIGINT, Libc.SIGQUIT);
        string? dataDirectory = null;
        string? connectionString = null;
        int? port = null;
        int? httpPort = null;
        var level = MessageLevel.Warning;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"option requires an argument -- '{arg}'");
            try
            {
                switch (arg)
                {
                    case "-D":
                        dataDirectory = Next();
                        break;
                    case "-d":
                        connectionString = Next();
                        break;
                    case "-p" or "--port":
                        port = int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535 ? p : throw new ArgumentException("invalid port");
                        break;
                    case "--http-port":
                        httpPort = int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var h) && h is >= 0 and <= 65535 ? h : throw new ArgumentException("invalid HTTP port");
                        break;
                    case "--log-min-messages":
                        level = Enum.TryParse<MessageLevel>(Next(), ignoreCase: true, out var l) ? l : throw new ArgumentException("invalid log level");
                        break;
                    case "-V" or "--version":
                        Console.WriteLine($"cm_watchdog (ConMgr) {Version}");
                        return 0;
                    case "-?" or "--help":
                        Console.WriteLine(Usage);
                        return 0;
                    default:
                        throw new ArgumentException($"invalid argument: \"{arg}\"");
                }
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine($"cm_watchdog: {ex.Message}\nTry \"cm_watchdog --help\" for more information.");
                return 1;
            }
        }

        if (RootRefusal.Check("cm_watchdog", "watchdog") is { } refusal)
        {
            Console.Error.WriteLine(refusal);
            return 1;
        }

        if ((dataDirectory is null) == (connectionString is null))
        {
            Console.Error.WriteLine("cm_watchdog: give exactly one of -D DATADIR or -d CONNSTRING\nTry \"cm_watchdog --help\" for more information.");
            return 1;
        }

        // Anything on the command line is in ps and /proc/PID/cmdline for every local user to read.
        if (connectionString is not null && InstanceConnection.HasPassword(connectionString))
        {
            Console.Error.WriteLine("cm_watchdog: -d must not hold a password: every local user can read it in ps; put it in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), which Npgsql reads");
            return 1;
        }

        var instance = dataDirectory is not null ? InstanceConnection.ForDataDirectory(dataDirectory) : InstanceConnection.ForConnectionString(connectionString!);
        using var log = new ServerLog(level, [new StderrSink()]);
        return await RunAsync(instance, port, httpPort, log, TimeProvider.System);
    }

    private static async Task<int> RunAsync(InstanceConnection instance, int? port, int? httpPort, ServerLog log, TimeProvider time)
    {
        using var stop = new CancellationTokenSource();
        using var signals = new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT }
            .Select(s => PosixSignalRegistration.Create(s, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            }))
            .ToArray()
            .AsDisposable();

        var systemd = new Hosting.Systemd.ServiceNotifier();
        await using var checker = new AttributeChecker(instance, log, time);
        WatchdogSettings settings;
        try
        {
            settings = await checker.ReadSettingsAsync(port, httpPort, stop.Token);
        }
        catch (OperationCanceledException)
        {
            return 0;
        }
        catch (FormatException ex)
        {
            log.Fatal(ex.Message);
            return 1;
        }

        await using var terminator = new SessionTerminator(instance, log);
        await terminator.WarmUpAsync(stop.Token);
        await checker.RefreshAsync(stop.Token);
        var registry = new PeerRegistry(settings.MaxHeartbeatConnections);
        WatchdogMetrics.Observe(() => registry.Snapshot().Count);
        using var statusFile = instance.DataDirectory is { } dir ? new StatusFile(dir, registry.Snapshot, time) : null;
        if (statusFile is not null)
        {
            registry.Changed += statusFile.MarkChanged;
            statusFile.Write();
        }


        // The promotion notifier (a background worker of the watchdog library started when
        // recovery ends) finds us through this file and sends SIGUSR1: check at once.
        using var wake = PosixSignalRegistration.Create(PromotionSignal, context =>
        {
            context.Cancel = true;
            checker.CheckNow();
        });
        using var trimmer = new Hosting.Runtime.IdleMemoryTrimmer(log, time);
        using var pidFile = instance.DataDirectory is { } data ? NotifierPidFile.Create(data, log) : null;
        HeartbeatServer server;
        try
        {
            if (settings.Security is { GenerateSecret: true, SecretFile: { } secretFile })
            {
                HeartbeatSecretFile.EnsureExists(secretFile, log);
            }

            server = new HeartbeatServer(registry, checker, terminator, settings.HelloTimeout, log, time, settings.Security, settings.MaxConnectionsPerAddress);
        }
        catch (Exception ex) when (ex is Hosting.Tls.TlsFileException or IOException)
        {
            log.Fatal(ex.Message);
            return 1;
        }

        if (server.Unauthenticated)
        {
            log.Warning("heartbeat peers are not authenticated (watchdog.secret_file = 'none', no client certificates): anyone who can reach watchdog.port can read this instance's attributes, hold heartbeat slots, and end the sessions of the address it connects from; and a conmgr that accepts unauthenticated watchdogs can be fed forged attributes (docs/tls.md)");
        }

        await using var ownedServer = server;

        // Disposed before the server (declared after it): no answer is posted to a stopped reactor.
        await using var lookups = new Auth.AuthLookupService(instance, settings.AuthLookup ?? Auth.AuthLookupPolicy.Default, Auth.AuthMockKey.Load(instance.DataDirectory, log), log, time);
        server.Lookups = lookups;
        checker.Changed += server.Broadcast;
        ListenerGroup listener;
        try
        {
            listener = new ListenerGroup("watchdog", ListenEndpoints.Resolve(settings.ListenAddresses, settings.Port), server.HandleAsync, log);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Net.Sockets.SocketException)
        {
            log.Fatal(ex.Message);
            return 1;
        }

        await using var http = await StartHttpAsync(settings, checker, registry, log, time);
        using (listener)
        {
            listener.Start();
            log.Log($"cm_watchdog {Version} for {instance.Describe()} ready on port {settings.Port} (check_attr_interval {settings.CheckAttrInterval.TotalMilliseconds} ms, max_heartbeat_connections {settings.MaxHeartbeatConnections}; {server.DescribeSecurity()}; authentication lookups on certificate links: {lookups.Policy.Describe()}; heartbeat thread: {server.Scheduling})");

            // systemd (a standalone watchdog as a Type=notify unit): ready once it listens.
            systemd.Ready($"serving heartbeats for {instance.Describe()} on port {settings.Port}");
            try
            {
                await checker.RunAsync(settings.CheckAttrInterval, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        // A Goodbye tells conmgr the instance is gone: its clients are told at once. Without one
        // (the instance keeps running: the watchdog alone restarts) conmgr keeps the instance for
        // up to heartbeat_timeout while it reconnects, and no healthy session fails.
        systemd.Stopping("shutting down");
        var instanceGoing = instance.IsStopping() ?? !checker.Current.Available;
        log.Log(instanceGoing ? "cm_watchdog shutting down with its instance" : "cm_watchdog shutting down; the instance keeps running, so conmgr peers are not told it is gone");
        await server.StopAsync(instanceGoing ? "instance shutting down" : null);

        return 0;
    }

    /// <summary>
    /// watchdog.http_port, when set. A port that cannot be bound is a WARNING, not a failure: the
    /// heartbeat is what conmgr's clients depend on, and it must not stop for a health port.
    /// </summary>
    private static async Task<HttpPort?> StartHttpAsync(WatchdogSettings settings, AttributeChecker checker, PeerRegistry registry, ServerLog log, TimeProvider time)
    {
        if (settings.HttpPort == 0)
        {
            return null;
        }

        var http = new HttpPort(ListenEndpoints.Resolve(settings.ListenAddresses, settings.HttpPort), log, ("cm_watchdog", Version), WatchdogMetrics.MeterName, ConMgr.Heartbeat.Diagnostics.HeartbeatMetrics.MeterName);
        WatchdogHttpPaths.Map(http, () => new HealthSnapshot(checker.Current, checker.Details, checker.LastCheckAt, time.GetUtcNow(), settings.CheckAttrInterval, registry.Snapshot().Count));
        try
        {
            await http.StartAsync();
            return http;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            log.Warning($"could not listen on watchdog.http_port {settings.HttpPort}: {ex.Message}; going on without the HTTP port");
            await http.DisposeAsync();
            return null;
        }
    }

    private static DisposableArray AsDisposable(this PosixSignalRegistration[] registrations) => new(registrations);

    private sealed class DisposableArray(PosixSignalRegistration[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }
}
