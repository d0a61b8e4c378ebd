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
    public PgInstance(string name, string dataDirectory, string host, int port, RunAs runAs)
    {
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

    public string LogFile => Path.Combine(DataDirectory, "..", Name + ".log");

    /// <summary>A connection string for the postgres superuser; pooling off so a restart leaves no stale connection.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host={Host};Port={Port};Username=postgres;Database={database};Pooling=false;Timeout=10;Command Timeout=30";

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
            foreach (var member in ProcessTree.Of(pid))
            {
                Libc.Kill(member, Libc.SIGCONT);
                Libc.Kill(member, Libc.SIGKILL);
            }
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

    internal async Task PgCtlAsync(params string[] args)
    {
        var all = new List<string> { "-D", DataDirectory };
        all.AddRange(args);
        (await ProcessRunner.RunAsync(PgBinaries.Path("pg_ctl"), all, RunAs)).EnsureSuccess($"pg_ctl {args[0]} ({Name})");
    }
}
