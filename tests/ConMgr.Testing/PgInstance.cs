// PgInstance.cs: one real PostgreSQL 15 instance of a test cluster, with the faults tests inflict on it.
using System.Globalization;
using ConMgr.Hosting.Posix;
using Npgsql;

namespace ConMgr.Testing;

/// <summary>
/// A PostgreSQL instance in its own data directory, run as the <c>postgres</c> OS user with
/// trust authentication on <see cref="Host"/>:<see cref="Port"/>. Start, stop, promote, kill -9,
/// freeze (SIGSTOP) and thaw (SIGCONT) it.
/// </summary>
public sealed class PgInstance
{
    public PgInstance(string name, string dataDirectory, string host, int port, RunAs runAs, int watchdogPort = 0)
    {
        WatchdogPort = watchdogPort;
        Name = name;
        DataDirectory = dataDirectory;
        Host = host;
        Port = port;
        RunAs = runAs;
    }

    public string Name { get; }

    public string DataDirectory { get; }

    public string Host { get; }

    public int Port { get; }

    public RunAs RunAs { get; }

    /// <summary>watchdog.port of this instance; 0 when the cluster has no watchdogs.</summary>
    public int WatchdogPort { get; }

    /// <summary>watchdog.http_port of this instance; 0 when off.</summary>
    public int WatchdogHttpPort { get; init; }

    /// <summary>The cm_watchdog the test started (standalone mode), if any.</summary>
    public BackgroundProcess? StandaloneWatchdog { get; private set; }

    public string WatchdogLogFile => Path.Combine(DataDirectory, "..", Name + ".watchdog.log");

    /// <summary>Directory of the instance's Unix socket: the cluster directory, shared by its instances (ports differ).</summary>
    public string SocketDirectory => Path.GetDirectoryName(DataDirectory)!;

    public string LogFile => Path.Combine(DataDirectory, "..", Name + ".log");

    /// <summary>This instance's copy of the heartbeat secret (generated in the primary, copied into standbys by pg_basebackup).</summary>
    public string HeartbeatSecretFile => Path.Combine(DataDirectory, "heartbeat.secret");

    /// <summary>
    /// A connection string for the postgres superuser over the Unix socket in the data directory:
    /// it works whatever network namespace the instance is in, and its sessions have no
    /// client_addr, so no terminator ever kills the test's own admin connections. Pooling is off
    /// so a restart leaves no stale connection.
    /// </summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host={SocketDirectory};Port={Port};Username=postgres;Database={database};Pooling=false;Timeout=10;Command Timeout=30";

    /// <summary>A connection string over TCP to <see cref="Host"/> (sessions with a client_addr).</summary>
    public string TcpConnectionString(string database = "postgres") =>
        $"Host={Host};Port={Port};Username=postgres;Database={database};Pooling=false;Timeout=10;Command Timeout=30";

    /// <summary>Starts cm_watchdog -D for this instance and waits until it listens.</summary>
    public async Task<BackgroundProcess> StartStandaloneWatchdogAsync(params string[] extraArgs)
    {
        var watchdog = BackgroundProcess.Start(RepoPaths.Executable("cm_watchdog"), ["-D", DataDirectory, "--log-min-messages", "log", .. extraArgs], RunAs, WatchdogLogFile);
        StandaloneWatchdog = watchdog;
        var readyLines = File.Exists(WatchdogLogFile) ? CountReady(await File.ReadAllTextAsync(WatchdogLogFile)) : 0;
        await Poll.UntilAsync(
            () => watchdog.HasExited ? throw new InvalidOperationException($"cm_watchdog exited:\n{watchdog.Log}") : CountReady(watchdog.Log) > readyLines,
            TimeSpan.FromSeconds(30),
            $"cm_watchdog of {Name} to be ready");
        return watchdog;
    }

    /// <summary>The cm_watchdog whose command line names this data directory (launched or standalone), if one runs.</summary>
    public int? WatchdogPid
    {
        get
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    continue;
                }

                try
                {
                    var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                    if (cmdline.Length >= 3 && cmdline[0].EndsWith("cm_watchdog", StringComparison.Ordinal) && cmdline[2] == DataDirectory && Libc.IsAlive(pid))
                    {
                        return pid;
                    }
                }
                catch (IOException)
                {
                }
            }

            return null;
        }
    }

    /// <summary>The postmaster's PID from postmaster.pid, or null when it is not running.</summary>
    public int? PostmasterPid
    {
        get
        {
            try
            {
                var first = File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).FirstOrDefault();
                return int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Libc.IsAlive(pid) ? pid : null;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    public Task StartAsync() => PgCtlAsync("start", "-w", "-t", "60", "-l", LogFile);

    /// <summary>pg_ctl stop with a mode: smart, fast or immediate.</summary>
    public Task StopAsync(string mode = "fast") => PgCtlAsync("stop", "-w", "-t", "60", "-m", mode);

    /// <summary>Promotes a standby and waits until it accepts writes.</summary>
    public async Task PromoteAsync()
    {
        await PgCtlAsync("promote", "-w", "-t", "60");
        await Poll.UntilAsync(async () => !await IsInRecoveryAsync(), TimeSpan.FromSeconds(60), $"{Name} to leave recovery");
    }

    /// <summary>Crashes the postmaster with SIGKILL (its backends then exit on their own).</summary>
    public void Kill9()
    {
        if (PostmasterPid is { } pid)
        {
            Libc.Kill(pid, Libc.SIGKILL);
        }
    }

    /// <summary>SIGSTOP to the postmaster and every child: the instance stops answering, sockets stay open.</summary>
    public void Freeze() => ProcessTree.Signal(PostmasterPid ?? throw new InvalidOperationException($"{Name} is not running"), Libc.SIGSTOP);

    public void Thaw()
    {
        if (PostmasterPid is { } pid)
        {
            ProcessTree.Signal(pid, Libc.SIGCONT);
        }
    }

    /// <summary>Kills the postmaster and all of its children at once (cleanup, never a test step).</summary>
    public void KillAll()
    {
        if (PostmasterPid is { } pid)
        {
            ProcessTree.KillAll(pid);
        }
    }

    public async Task<T> ScalarAsync<T>(string sql, string database = "postgres")
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task ExecuteAsync(string sql, string database = "postgres")
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public Task<bool> IsInRecoveryAsync() => ScalarAsync<bool>("select pg_is_in_recovery()");

    public Task<int> TimelineAsync() => ScalarAsync<int>("select timeline_id from pg_control_checkpoint()");

    private static int CountReady(string log) => log.Split('\n').Count(l => l.Contains(" ready on port ", StringComparison.Ordinal));

    internal async Task PgCtlAsync(params string[] args)
    {
        var all = new List<string> { "-D", DataDirectory };
        all.AddRange(args);
        (await ProcessRunner.RunAsync(PgBinaries.Path("pg_ctl"), all, RunAs)).EnsureSuccess($"pg_ctl {args[0]} ({Name})");
    }
}
