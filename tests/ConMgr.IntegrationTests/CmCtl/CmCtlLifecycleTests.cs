// CmCtlLifecycleTests.cs: cm_ctl start/stop/status/restart as an unprivileged user, the lock and the stale pid file.
using ConMgr.Hosting.Posix;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.CmCtl;

public sealed class CmCtlLifecycleTests
{
    private const string OneInstance = "backend_hostaddr0 = '127.0.0.1'\nbackend_port0 = 5999\nlog_min_messages = log\n";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Start_status_stop()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);

        var start = await node.CtlAsync("start", "-W");
        Assert.Equal(0, start.ExitCode);
        Assert.Contains("conmgr starting", start.StandardOutput, StringComparison.Ordinal);
        await node.WaitReadyAsync();
        var pid = node.Pid;
        Assert.NotNull(pid);

        var status = await node.CtlAsync("status");
        Assert.Equal(0, status.ExitCode);
        Assert.Contains($"cm_ctl: conmgr is running (PID: {pid})", status.StandardOutput, StringComparison.Ordinal);
        Assert.Matches(@"\n 0 +\| 127\.0\.0\.1 +\| 5999 +\| 27545 +\| (down|connecting) +\| unknown", status.StandardOutput);
        Assert.Contains("Application connections", status.StandardOutput, StringComparison.Ordinal);

        var stop = await node.CtlAsync("stop");
        Assert.Equal(0, stop.ExitCode);
        Assert.Contains("conmgr stopped", stop.StandardOutput, StringComparison.Ordinal);
        Assert.False(Libc.IsAlive(pid.Value));
        Assert.False(File.Exists(node.Paths.PidFile));
        Assert.Contains("received fast shutdown request", node.Log, StringComparison.Ordinal);

        var after = await node.CtlAsync("status");
        Assert.Equal(3, after.ExitCode);
        Assert.Contains("cm_ctl: no conmgr running", after.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_info_selects_the_tables()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);
        await node.StartAsync();

        var instances = await node.CtlAsync("status", "-i", "instance");
        var applications = await node.CtlAsync("status", "-i", "application");

        Assert.Contains("Instances", instances.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Application connections", instances.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Application connections", applications.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Instances", applications.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(1, (await node.CtlAsync("status", "-i", "everything")).ExitCode);
    }

    [Fact]
    public async Task Start_without_a_reachable_primary_times_out_and_leaves_conmgr_running()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);

        var start = await node.CtlAsync("start", "-t", "2");

        Assert.Equal(1, start.ExitCode);
        Assert.Contains("no primary with a heartbeat yet (use -W when conmgr.conf names no primary) within 2 s; conmgr keeps running", start.StandardError, StringComparison.Ordinal);
        Assert.NotNull(node.Pid);
        Assert.Equal("ready", (await node.StatusAsync()).State);
    }

    [Fact]
    public async Task Second_conmgr_on_the_same_directory_is_refused()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);
        await node.StartAsync();
        var pid = node.Pid;

        var again = await node.CtlAsync("start");
        var direct = await ProcessRunner.RunAsync(RepoPaths.Executable("conmgr"), ["-D", node.Directory], node.RunAs);

        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"another conmgr might be running (PID {pid})", again.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, direct.ExitCode);
        Assert.Contains($"FATAL:  lock file \"{node.Paths.LockFile}\" is held: another conmgr (PID {pid})", direct.StandardError, StringComparison.Ordinal);
        Assert.Equal(pid, node.Pid);
    }

    [Fact]
    public async Task Stale_pid_file_after_kill9_does_not_block_the_next_start()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);
        await node.StartAsync();
        var pid = node.Pid!.Value;

        Libc.Kill(pid, Libc.SIGKILL);
        await Poll.UntilAsync(() => !Libc.IsAlive(pid), Deadline, "conmgr to die");

        Assert.True(File.Exists(node.Paths.PidFile), "kill -9 leaves the pid file behind");
        Assert.Equal(3, (await node.CtlAsync("status")).ExitCode);
        Assert.Equal(1, (await node.CtlAsync("stop")).ExitCode);
        await node.StartAsync();
        Assert.NotEqual(pid, node.Pid);
    }

    [Fact]
    public async Task Restart_replaces_the_process()
    {
        await using var node = await ConMgrNode.CreateAsync(OneInstance);
        await node.StartAsync();
        var first = node.Pid!.Value;

        var restart = await node.CtlAsync("restart", "-W");

        Assert.Equal(0, restart.ExitCode);
        Assert.False(Libc.IsAlive(first));
        await node.WaitReadyAsync();
        Assert.NotNull(node.Pid);
        Assert.NotEqual(first, node.Pid);
    }

    [Fact]
    public async Task Bad_configuration_fails_the_start_and_the_log_names_file_line_and_parameter()
    {
        await using var node = await ConMgrNode.CreateAsync("backend_host0 = 'db'\nbackend_port1 = 5432\n");

        var start = await node.CtlAsync("start");

        Assert.Equal(1, start.ExitCode);
        Assert.Contains("cm_ctl: could not start conmgr", start.StandardError, StringComparison.Ordinal);
        Assert.Contains($"FATAL:  {node.Paths.ConfigFile}:3: parameter \"backend_host1\": instance 1 has no host", node.Log, StringComparison.Ordinal);
        Assert.Null(node.Pid);
    }

    [Fact]
    public async Task Start_times_out_when_the_port_is_taken_and_says_so()
    {
        using var blocker = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        blocker.Start();
        var port = ((System.Net.IPEndPoint)blocker.LocalEndpoint).Port;
        using var blocker6 = new System.Net.Sockets.TcpListener(System.Net.IPAddress.IPv6Loopback, port);
        blocker6.Start();
        await using var node = await ConMgrNode.CreateAsync($"port = {port}\n" + OneInstance);

        var start = await node.CtlAsync("start");

        Assert.Equal(1, start.ExitCode);
        Assert.Contains("could not create any listening socket", node.Log, StringComparison.Ordinal);
    }
}
