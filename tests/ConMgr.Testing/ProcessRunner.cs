// ProcessRunner.cs: runs a command to completion with a time bound, optionally as another OS user or in a network namespace.
using System.Diagnostics;
using System.Text;
using ConMgr.Hosting.Posix;

namespace ConMgr.Testing;

/// <summary>Exit code and captured output of a finished command.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => StandardOutput + StandardError;

    public ProcessResult EnsureSuccess(string what) =>
        ExitCode == 0 ? this : throw new InvalidOperationException($"{what} failed with exit code {ExitCode}:\n{Output}");
}

/// <summary>Where and as whom a command runs.</summary>
/// <param name="User">OS user to run as (through runuser when we are root); null = ourselves.</param>
/// <param name="NetworkNamespace">Network namespace to run in (ip netns exec); null = ours.</param>
public sealed record RunAs(string? User = null, string? NetworkNamespace = null)
{
    public static RunAs Postgres { get; } = new("postgres");

    public static RunAs Self { get; } = new();
}

public static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    /// <summary>The argv that runs <paramref name="file"/> with <paramref name="args"/> as <paramref name="runAs"/> says.</summary>
    public static IReadOnlyList<string> Wrap(string file, IEnumerable<string> args, RunAs? runAs)
    {
        var argv = new List<string>();
        if (runAs?.NetworkNamespace is { } ns)
        {
            argv.AddRange(["ip", "netns", "exec", ns]);
        }

        if (runAs?.User is { } user && Libc.IsRoot && user != "root")
        {
            // setpriv execs in place (runuser forks and waits), so the PID we hold is the program's own.
            argv.AddRange(["setpriv", $"--reuid={user}", $"--regid={user}", "--init-groups", "--"]);
        }

        argv.Add(file);
        argv.AddRange(args);
        return argv;
    }

    /// <summary>A start description for <see cref="Wrap"/>ped argv, with the target user's HOME.</summary>
    public static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, RunAs? runAs, IReadOnlyDictionary<string, string>? environment)
    {
        var argv = Wrap(file, args, runAs);
        var start = new ProcessStartInfo(argv[0]) { UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        ApplyUserEnvironment(start, runAs);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>HOME, USER and LOGNAME of the user <paramref name="runAs"/> switches to (setpriv keeps ours).</summary>
    public static void ApplyUserEnvironment(ProcessStartInfo start, RunAs? runAs)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (runAs?.User is { } user && Libc.IsRoot)
        {
            start.Environment["HOME"] = user == "postgres" ? "/var/lib/postgresql" : "/tmp";
            start.Environment["USER"] = user;
            start.Environment["LOGNAME"] = user;
        }
    }

    public static async Task<ProcessResult> RunAsync(
        string file,
        IEnumerable<string> args,
        RunAs? runAs = null,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var start = StartInfo(file, args, runAs, environment);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outTask = PumpAsync(process.StandardOutput, stdout);
        var errTask = PumpAsync(process.StandardError, stderr);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(outTask, errTask).WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout ?? DefaultTimeout}:\n{stdout}{stderr}");
        }

        return new ProcessResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder sink)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (sink)
            {
                sink.Append(buffer, 0, read);
            }
        }
    }
}
