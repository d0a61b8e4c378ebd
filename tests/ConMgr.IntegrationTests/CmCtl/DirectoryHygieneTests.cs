// DirectoryHygieneTests.cs: the conmgr directory is checked as a data directory is, and no file in it is written through a planted symlink.
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.CmCtl;

public sealed class DirectoryHygieneTests
{
    private const string OneInstance = "backend_hostaddr0 = '127.0.0.1'\nbackend_port0 = 5999\nlog_min_messages = log\n";

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute)]
    public async Task A_directory_open_to_others_is_refused_as_postgres_refuses_its_data_directory(UnixFileMode mode)
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);
        File.SetUnixFileMode(node.Directory, mode);
        var direct = await ProcessRunner.RunAsync(RepoPaths.Executable("conmgr"), ["-D", node.Directory], node.RunAs);
        Assert.Equal(1, direct.ExitCode);
        Assert.Contains($"FATAL:  directory \"{node.Directory}\" has invalid permissions; permissions should be u=rwx (0700) or u=rwx,g=rx (0750)", direct.StandardError, StringComparison.Ordinal);

        // 0750, as PostgreSQL's group access, is accepted.
        File.SetUnixFileMode(node.Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        await node.StartAsync();
        Assert.NotNull(node.Pid);
    }

    [Fact]
    public async Task A_symlinked_lock_file_is_refused_and_a_symlink_planted_for_the_pid_file_is_replaced_not_followed()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);
        var target = Path.Combine(node.Directory, "victim");
        await File.WriteAllTextAsync(target, "precious\n");
        File.CreateSymbolicLink(node.Paths.LockFile, target);
        var direct = await ProcessRunner.RunAsync(RepoPaths.Executable("conmgr"), ["-D", node.Directory], node.RunAs);
        Assert.Equal(1, direct.ExitCode);
        Assert.Contains($"FATAL:  lock file \"{node.Paths.LockFile}\" is a symbolic link: refusing to open it", direct.StandardError, StringComparison.Ordinal);

        // The pid file and its temporary name as links to the victim: conmgr starts, the victim is untouched, the pid file is a file.
        File.Delete(node.Paths.LockFile);
        File.CreateSymbolicLink(node.Paths.PidFile, target);
        File.CreateSymbolicLink(node.Paths.PidFile + ".tmp", target);
        await node.StartAsync();
        Assert.NotNull(node.Pid);
        Assert.Equal("precious\n", await File.ReadAllTextAsync(target));
        Assert.Null(new FileInfo(node.Paths.PidFile).LinkTarget);
    }
}
