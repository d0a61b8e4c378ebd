// CmCtlArgumentTests.cs: cm_ctl and conmgr refuse root, want a directory, and report usage errors like pg_ctl.
using ConMgr.Hosting.Posix;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.CmCtl;

public sealed class CmCtlArgumentTests
{
    [Fact]
    public async Task Root_is_refused_by_cm_ctl_and_conmgr()
    {
        Assert.True(Libc.IsRoot, "the integration tests run as root (CI does), so root refusal is testable");

        var ctl = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), ["status", "-D", "/tmp"], RunAs.Self);
        var daemon = await ProcessRunner.RunAsync(RepoPaths.Executable("conmgr"), ["-D", "/tmp"], RunAs.Self);

        Assert.Equal(1, ctl.ExitCode);
        Assert.StartsWith("cm_ctl: cannot be run as root", ctl.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, daemon.ExitCode);
        Assert.StartsWith("conmgr: cannot be run as root", daemon.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_directory_option_and_cmdata_is_an_error()
    {
        var result = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), ["start"], RunAs.Postgres, environment: new Dictionary<string, string> { ["CMDATA"] = string.Empty });

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no directory specified and environment variable CMDATA unset", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nonexistent_directory_is_an_error_and_status_exits_4()
    {
        var start = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), ["start", "-D", "/nonexistent/cm"], RunAs.Postgres);
        var status = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), ["status", "-D", "/nonexistent/cm"], RunAs.Postgres);

        Assert.Equal(1, start.ExitCode);
        Assert.Contains("directory \"/nonexistent/cm\" does not exist", start.StandardError, StringComparison.Ordinal);
        Assert.Equal(4, status.ExitCode);
    }

    [Fact]
    public async Task Cmdata_names_the_directory()
    {
        await using var node = await ConMgrNode.CreateAsync("backend_host0 = 'localhost'\n");

        var result = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), ["status"], RunAs.Postgres, environment: new Dictionary<string, string> { ["CMDATA"] = node.Directory });

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("no conmgr running", result.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate", "unrecognized operation mode \"frobnicate\"")]
    [InlineData("stop -m sometime", "unrecognized shutdown mode \"sometime\"")]
    [InlineData("start -t 0", "invalid timeout \"0\"")]
    [InlineData("start -x", "invalid option -- '-x'")]
    [InlineData("start stop", "too many command-line arguments")]
    [InlineData("", "no operation specified")]
    public async Task Usage_errors_point_to_help(string args, string message)
    {
        var result = await ProcessRunner.RunAsync(RepoPaths.Executable("cm_ctl"), args.Split(' ', StringSplitOptions.RemoveEmptyEntries), RunAs.Postgres);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
        Assert.Contains("Try \"cm_ctl --help\"", result.StandardError, StringComparison.Ordinal);
    }
}
