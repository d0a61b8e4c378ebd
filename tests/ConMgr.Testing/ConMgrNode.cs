// ConMgrNode.cs: a conmgr directory with its conmgr.conf, driven through the real cm_ctl as an unprivileged user.
using System.Globalization;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Posix;

namespace ConMgr.Testing;

/// <summary>
/// A conmgr directory under <see cref="PgCluster.TestRoot"/>, owned by the <c>postgres</c> OS user
/// (conmgr refuses root). Runs the published <c>cm_ctl</c>; always with <c>-l</c>, so no pipe of
/// ours is inherited by the daemon. Disposing kills a conmgr left running and removes the directory.
/// </summary>
public sealed class ConMgrNode : IAsyncDisposable
{
    private ConMgrNode(string directory, int port, RunAs runAs)
    {
        Directory = directory;
        Port = port;
        RunAs = runAs;
    }

    public string Directory { get; }

    /// <summary>conmgr's <c>port</c>, chosen free unless the configuration sets it.</summary>
    public int Port { get; }

    public RunAs RunAs { get; }

    /// <summary>Extra environment for cm_ctl, inherited by the conmgr it starts.</summary>
    public Dictionary<string, string> Environment { get; } = [];

    public ConMgrDirectory Paths => new(Directory);

    public string LogFile => System.IO.Path.Combine(Directory, "conmgr.log");

    public string Log => File.Exists(LogFile) ? File.ReadAllText(LogFile) : string.Empty;

    /// <summary>The PID of the running conmgr, from its pid file; null when none runs.</summary>
    public int? Pid => PidFile.TryRead(Paths.PidFile) is { } pid && Libc.IsAlive(pid.Pid) ? pid.Pid : null;

    /// <summary>Creates the directory and writes <paramref name="configuration"/> (plus <c>port</c> unless it sets one).</summary>
    public static async Task<ConMgrNode> CreateAsync(string configuration, RunAs? runAs = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        StaleClusters.Reap(PgCluster.TestRoot);
        var directory = System.IO.Path.Combine(PgCluster.TestRoot, $"{System.Environment.ProcessId}-cm-{Guid.NewGuid():N}"[..24]);
        // Closed to others, as conmgr requires (DirectoryPermissions), like a data directory.
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await File.WriteAllTextAsync(System.IO.Path.Combine(directory, StaleClusters.OwnerFile), StaleClusters.OwnerStamp());
        var configured = System.Text.RegularExpressions.Regex.Match(configuration, @"(?m)^\s*port\s*=\s*([0-9]+)");
        var port = configured.Success ? int.Parse(configured.Groups[1].Value, CultureInfo.InvariantCulture) : FreePort.Next();
        var text = configured.Success ? configuration : $"port = {port}\n{configuration}";

        // Authenticated by default, as conmgr is: the secret comes with InstanceLines (a real
        // cluster's watchdogs) or the test's own lines. A configuration with neither talks to
        // scripted watchdogs, or none, and says so explicitly, as an operator would have to.
        if (!System.Text.RegularExpressions.Regex.IsMatch(text, @"(?m)^\s*heartbeat_(secret_file|sslrootcert)\s*="))
        {
            text += "\nheartbeat_secret_file = none\n";
        }
        await File.WriteAllTextAsync(System.IO.Path.Combine(directory, "conmgr.conf"), text);
        var node = new ConMgrNode(directory, port, runAs ?? RunAs.Postgres);
        await node.ChownAsync(directory);
        return node;
    }

    public Task WriteConfigurationAsync(string text) => File.WriteAllTextAsync(Paths.ConfigFile, text);

    /// <summary>Runs <c>cm_ctl COMMAND -D dir ARGS</c> (start gets <c>-l conmgr.log</c>).</summary>
    public Task<ProcessResult> CtlAsync(string command, params string[] args)
    {
        var all = new List<string> { command, "-D", Directory };
        if (command is "start" or "restart")
        {
            all.AddRange(["-l", LogFile]);
        }

        all.AddRange(args);
        return ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), all, RunAs, environment: Environment);
    }

    /// <summary>cm_ctl start -W, then waits until conmgr reports ready (not for any heartbeat).</summary>
    public async Task StartAsync(params string[] args)
    {
        (await CtlAsync("start", ["-W", .. args])).EnsureSuccess("cm_ctl start");
        try
        {
            await WaitReadyAsync();
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\nconmgr.log:\n{Log}", ex);
        }
    }

    public Task WaitReadyAsync() => Poll.UntilAsync(async () => (await StatusAsync()).State == "ready", TimeSpan.FromSeconds(30), "conmgr to be ready");

    /// <summary>Polls the instance table until instance <paramref name="number"/> satisfies <paramref name="condition"/>; returns how long it took.</summary>
    public Task<TimeSpan> WaitInstanceAsync(int number, Func<InstanceStatus, bool> condition, TimeSpan timeout, string what) =>
        Poll.UntilAsync(async () => condition((await StatusAsync()).Instances.Single(i => i.Number == number)), timeout, what);

    /// <summary>
    /// conmgr.conf lines for every instance of <paramref name="cluster"/> (instance N =
    /// cluster.Instances[N]), and the watchdogs' generated secret as heartbeat_secret_file when the
    /// cluster uses the default authentication (here conmgr reads the primary's file itself; a real
    /// conmgr host gets a copy of it).
    /// </summary>
    public static string InstanceLines(PgCluster cluster) => SecretLine(cluster) + InstanceLinesOnly(cluster);

    /// <summary>The cluster's heartbeat secret as conmgr's heartbeat_secret_file, when it uses the default authentication; else nothing.</summary>
    public static string SecretLine(PgCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return cluster.HeartbeatSecretFile is { } file ? $"heartbeat_secret_file = '{file}'\n" : string.Empty;
    }

    private static string InstanceLinesOnly(PgCluster cluster)
    {
        return string.Concat(cluster.Instances.Select((instance, n) =>
            $"backend_hostaddr{n} = '{instance.Host}'\nbackend_port{n} = {instance.Port}\nwatchdog_port{n} = {instance.WatchdogPort}\n"));
    }

    public async Task<StatusReport> StatusAsync() => await ControlClient.GetStatusAsync(Paths, TimeSpan.FromSeconds(10));

    public async ValueTask DisposeAsync()
    {
        if (Pid is { } pid)
        {
            Libc.Kill(pid, Libc.SIGKILL);
            await Poll.UntilAsync(() => !Libc.IsAlive(pid), TimeSpan.FromSeconds(10), $"conmgr {pid} to die");
        }

        StaleClusters.RemoveDirectory(Directory);
    }

    private async Task ChownAsync(string path)
    {
        if (Libc.IsRoot && RunAs.User is { } user)
        {
            (await ProcessRunner.RunAsync("chown", ["-R", $"{user}:", path])).EnsureSuccess("chown of the conmgr directory");
        }
    }
}
