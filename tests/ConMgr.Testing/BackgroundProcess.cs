// BackgroundProcess.cs: a long-running program (standalone watchdog, psql session) started for a test and killed after it.
using System.Diagnostics;
using ConMgr.Hosting.Posix;

namespace ConMgr.Testing;

/// <summary>
/// A program running while the test goes on. Its output goes to a log file (never a pipe a
/// daemon could inherit). The PID is the program's own (setpriv and ip netns exec exec in place).
/// Disposing kills it with SIGKILL if it is still alive.
/// </summary>
public sealed class BackgroundProcess : IAsyncDisposable
{
    private readonly Process _process;
    private int _disposed;

    private BackgroundProcess(Process process, string logFile)
    {
        _process = process;
        LogFile = logFile;
    }

    public int Pid => _process.Id;

    public string LogFile { get; }

    public string Log => File.Exists(LogFile) ? File.ReadAllText(LogFile) : string.Empty;

    public bool HasExited => !Libc.IsAlive(Pid);

    public static BackgroundProcess Start(string file, IEnumerable<string> args, RunAs? runAs, string logFile, IReadOnlyDictionary<string, string>? environment = null)
    {
        // /bin/sh only redirects output to the log, then execs the wrapped argv: still one PID.
        var argv = ProcessRunner.Wrap(file, args, runAs);
        var script = "exec \"$@\" < /dev/null >> \"$0\" 2>&1";
        var start = ProcessRunner.StartInfo("/bin/sh", ["-c", script, logFile, .. argv], null, environment);
        ProcessRunner.ApplyUserEnvironment(start, runAs);

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        return new BackgroundProcess(process, logFile);
    }

    public void Signal(int signal) => Libc.Kill(Pid, signal);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_process.HasExited)
        {
            Libc.Kill(Pid, Libc.SIGCONT);
            Libc.Kill(Pid, Libc.SIGKILL);
            await WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }
}
