// ShutdownModeTests.cs: smart waits for applications, fast disconnects them with 57P01, immediate just exits; reload.
using System.Net.Sockets;
using ConMgr.Hosting.Posix;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.CmCtl;

public sealed class ShutdownModeTests
{
    private const string Config = "backend_hostaddr0 = '127.0.0.1'\nlog_min_messages = log\n";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Smart_waits_until_the_last_application_connection_ends()
    {
        await using var node = await ConMgrNode.CreateAsync(Config);
        var (pid, application) = await StartWithOneApplicationAsync(node);

        var stop = await node.CtlAsync("stop", "-m", "smart", "-W");
        Assert.Equal(0, stop.ExitCode);
        await Poll.UntilAsync(() => node.Log.Contains("received smart shutdown request", StringComparison.Ordinal), Deadline, "the smart shutdown to begin");
        await Poll.UntilAsync(() => !CanConnect(node.Port), Deadline, "the listener to close");

        Assert.True(Libc.IsAlive(pid), "smart shutdown must wait while an application is connected");
        Assert.Equal("stopping", (await node.StatusAsync()).State);

        application.Dispose();
        await Poll.UntilAsync(() => !Libc.IsAlive(pid), Deadline, "conmgr to exit after the last application left");
    }

    [Fact]
    public async Task Fast_disconnects_applications_with_admin_shutdown()
    {
        await using var node = await ConMgrNode.CreateAsync(Config);
        var (pid, application) = await StartWithOneApplicationAsync(node);
        using var _ = application;

        var stop = await node.CtlAsync("stop", "-m", "fast");

        Assert.Equal(0, stop.ExitCode);
        Assert.False(Libc.IsAlive(pid));
        var error = await application.ReadMessageAsync(Deadline);
        Assert.NotNull(error);
        Assert.Equal('E', error.Type);
        Assert.Equal("57P01", error.Fields['C']);
        Assert.Equal("FATAL", error.Fields['V']);
        Assert.Null(await application.ReadMessageAsync(Deadline));
    }

    [Fact]
    public async Task Fast_cuts_short_a_pending_smart_shutdown()
    {
        await using var node = await ConMgrNode.CreateAsync(Config);
        var (pid, application) = await StartWithOneApplicationAsync(node);
        using var _ = application;
        Assert.Equal(0, (await node.CtlAsync("stop", "-m", "smart", "-W")).ExitCode);
        await Poll.UntilAsync(() => node.Log.Contains("received smart shutdown request", StringComparison.Ordinal), Deadline, "the smart shutdown to begin");
        Assert.True(Libc.IsAlive(pid), "smart shutdown waits for the application");

        var stop = await node.CtlAsync("stop", "-m", "fast");

        Assert.Equal(0, stop.ExitCode);
        Assert.False(Libc.IsAlive(pid));
        Assert.Contains("received fast shutdown request", node.Log, StringComparison.Ordinal);
        var error = await application.ReadMessageAsync(Deadline);
        Assert.Equal("57P01", error!.Fields['C']);
    }

    [Fact]
    public async Task Immediate_exits_at_once_without_a_message()
    {
        await using var node = await ConMgrNode.CreateAsync(Config);
        var (pid, application) = await StartWithOneApplicationAsync(node);
        using var _ = application;

        var stop = await node.CtlAsync("stop", "-m", "immediate");

        Assert.Equal(0, stop.ExitCode);
        Assert.False(Libc.IsAlive(pid));
        Assert.True(await application.ClosedWithoutDataAsync(Deadline));
        Assert.Contains("received immediate shutdown request", node.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_reports_changes_that_need_a_restart_and_survives_a_broken_file()
    {
        await using var node = await ConMgrNode.CreateAsync(Config);
        await node.StartAsync();
        var pid = node.Pid!.Value;

        await File.AppendAllTextAsync(node.Paths.ConfigFile, "max_connections = 7\n");
        await ReloadAndWaitAsync(node, "parameter \"max_connections\" cannot be changed without restarting conmgr", "the reload report");

        await File.AppendAllTextAsync(node.Paths.ConfigFile, "bogus = 1\n");
        await ReloadAndWaitAsync(node, "parameter \"bogus\": unrecognized configuration parameter; configuration file not applied", "the reload error");

        Assert.Equal(pid, node.Pid);
        Assert.Equal("ready", (await node.StatusAsync()).State);
    }

    /// <summary>cm_ctl reload, then waits for <paramref name="line"/> in conmgr's log; on timeout the log is in the failure.</summary>
    private static async Task ReloadAndWaitAsync(ConMgrNode node, string line, string what)
    {
        Assert.Equal(0, (await node.CtlAsync("reload")).ExitCode);
        try
        {
            await Poll.UntilAsync(() => node.Log.Contains(line, StringComparison.Ordinal), Deadline, what);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; conmgr.log:\n{node.Log}", ex);
        }
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("immediate")]
    public async Task Conmgr_started_by_nohup_from_a_background_shell_still_obeys_reload_fast_and_immediate(string mode)
    {
        await using var node = await ConMgrNode.CreateAsync(Config);

        // A shell's background job starts with SIGINT and SIGQUIT ignored, nohup adds SIGHUP, and exec keeps all three.
        var cmCtl = RepoPaths.Executable("cm_ctl");
        var start = await ProcessRunner.RunAsync(
            "/bin/sh",
            ["-c", "trap '' INT QUIT HUP; exec \"$0\" start -W -D \"$1\" -l \"$2\"", cmCtl, node.Directory, node.LogFile],
            node.RunAs);
        Assert.Equal(0, start.ExitCode);
        await node.WaitReadyAsync();
        var pid = node.Pid!.Value;
        Assert.Equal(0UL, Convert.ToUInt64(SignalMask(pid, "SigIgn:"), 16) & 0b111); // bit 0 = SIGHUP, 1 = SIGINT, 2 = SIGQUIT

        await ReloadAndWaitAsync(node, "received SIGHUP, reloading configuration file", "the reload");
        var stop = await node.CtlAsync("stop", "-m", mode, "-t", "10");

        Assert.Equal(0, stop.ExitCode);
        Assert.False(Libc.IsAlive(pid));
    }

    /// <summary>As systemd (Type=simple) or a shell would run it: in the foreground, no cm_ctl, log on stderr.</summary>
    [Fact]
    public async Task Conmgr_started_directly_serves_reports_and_stops_as_under_cm_ctl()
    {
        await using var node = await ConMgrNode.CreateAsync(Config);
        await using var conmgr = BackgroundProcess.Start(RepoPaths.Executable("conmgr"), ["-D", node.Directory], node.RunAs, node.LogFile);
        await node.WaitReadyAsync();
        Assert.Equal(conmgr.Pid, node.Pid);
        using var application = await PgWire.ConnectAsync("127.0.0.1", node.Port);
        await Poll.UntilAsync(async () => (await node.StatusAsync()).Applications.Count == 1, Deadline, "conmgr to register the application");

        Libc.Kill(conmgr.Pid, Libc.SIGINT);

        Assert.Equal("57P01", (await application.ReadMessageAsync(Deadline))!.Fields['C']);
        await Poll.UntilAsync(() => conmgr.HasExited, Deadline, "conmgr to exit");
        Assert.Contains("conmgr is shut down", node.Log, StringComparison.Ordinal);
        Assert.Equal(3, (await node.CtlAsync("status")).ExitCode);
    }

    /// <summary>Starts conmgr and connects one application to its port; returns once conmgr lists the application.</summary>
    private static async Task<(int Pid, PgWire Application)> StartWithOneApplicationAsync(ConMgrNode node)
    {
        await node.StartAsync();
        var application = await PgWire.ConnectAsync("127.0.0.1", node.Port);
        await Poll.UntilAsync(async () => (await node.StatusAsync()).Applications.Count == 1, Deadline, "conmgr to register the application");
        return (node.Pid!.Value, application);
    }

    private static string SignalMask(int pid, string field) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal))[field.Length..].Trim();

    private static bool CanConnect(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
