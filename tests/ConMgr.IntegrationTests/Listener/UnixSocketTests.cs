// UnixSocketTests.cs: unix_socket_directories: local applications reach the resolve port and the proxy ports through .s.PGSQL.<port>, as they reach PostgreSQL.
using System.Globalization;
using System.Net.Sockets;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Listener;

public sealed class UnixSocketTests
{
    [Fact]
    public async Task ConMgr_Client_resolves_and_psql_is_proxied_through_conmgrs_Unix_sockets_which_have_the_configured_mode()
    {
        using var sockets = new SocketDirectory();
        var rw = FreePort.Next();
        await using var t = await TransparentCluster.StartAsync(extraConmgrLines: $"unix_socket_directories = '{sockets.Path}'\nunix_socket_permissions = 0770\nread_write_port = {rw}\n");

        foreach (var port in new[] { t.Node.Port, rw })
        {
            var path = System.IO.Path.Combine(sockets.Path, $".s.PGSQL.{port}");
            Assert.True(File.Exists(path + ".lock"), $"the lock file beside {path}");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute, File.GetUnixFileMode(path));
        }

        // The client library: a host that is a directory is conmgr's socket there, as in libpq.
        var local = $"{sockets.Path}:{t.Node.Port.ToString(CultureInfo.InvariantCulture)}";
        foreach (var (target, instance) in new[] { ("primary", t.Cluster.Primary), ("standby", t.Cluster.Standbys[0]) })
        {
            await using var source = t.DataSource(target, hosts: local);
            await using var connection = await source.OpenConnectionAsync();
            Assert.Equal(instance.Port, connection.Port);
            Assert.Equal(target == "standby", await Proxy.ProxyCluster.ScalarAsync<bool>(connection, "select pg_is_in_recovery()"));
        }

        // psql through the read-write port's socket; libpq sends no SSLRequest on a Unix socket.
        var psql = await ProcessRunner.RunAsync("psql", ["-X", "-At", "-h", sockets.Path, "-p", rw.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", "-c", "select pg_is_in_recovery()"], RunAs.Self);
        Assert.True(psql.ExitCode == 0 && psql.StandardOutput.Trim() == "f", $"psql through {sockets.Path}: {psql.Output}");
        Assert.Contains("listening on Unix socket", t.Node.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_socket_lock_held_by_a_live_process_stops_conmgr_a_stale_one_is_taken_over_and_both_files_go_at_stop()
    {
        using var sockets = new SocketDirectory();
        await using var node = await ConMgrNode.CreateAsync($"unix_socket_directories = '{sockets.Path}'\nbackend_hostaddr0 = '127.0.0.1'\nbackend_port0 = 5999\nlog_min_messages = log\n");
        var socket = System.IO.Path.Combine(sockets.Path, $".s.PGSQL.{node.Port}");

        // A live process (this test) owns the lock, as a postmaster on the same port and directory would.
        await File.WriteAllTextAsync(socket + ".lock", $"{Environment.ProcessId}\n");
        var refused = await node.CtlAsync("start", "-W");
        await Poll.UntilAsync(() => node.Log.Contains("already exists", StringComparison.Ordinal), TransparentCluster.Deadline, "conmgr to refuse the held lock");
        Assert.Contains($"PID {Environment.ProcessId}", node.Log, StringComparison.Ordinal);
        await Poll.UntilAsync(() => node.Pid is null, TransparentCluster.Deadline, "conmgr to exit");
        Assert.Equal($"{Environment.ProcessId}\n", await File.ReadAllTextAsync(socket + ".lock"));

        // A lock whose process is gone, and the socket it left: taken over.
        await File.WriteAllTextAsync(socket + ".lock", "2147483646\n");
        await File.WriteAllTextAsync(socket, "left by a crash");
        try
        {
            await node.StartAsync();
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            throw new InvalidOperationException($"conmgr did not start: {ex.Message}\nconmgr.log:\n{node.Log}", ex);
        }

        using (var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await client.ConnectAsync(new UnixDomainSocketEndPoint(socket));
        }

        (await node.CtlAsync("stop", "-m", "fast")).EnsureSuccess($"cm_ctl stop (refused start said: {refused.Output})");
        Assert.False(File.Exists(socket), "the socket is removed at stop");
        Assert.False(File.Exists(socket + ".lock"), "the lock file is removed at stop");
    }

    /// <summary>A directory every user may create sockets in and remove the test's files from (mode 0777), removed at the end.</summary>
    private sealed class SocketDirectory : IDisposable
    {
        public SocketDirectory()
        {
            Path = System.IO.Path.Combine(PgCluster.TestRoot, $"{Environment.ProcessId}-sock-{Guid.NewGuid():N}"[..24]);
            Directory.CreateDirectory(Path);
            File.WriteAllText(System.IO.Path.Combine(Path, StaleClusters.OwnerFile), StaleClusters.OwnerStamp());
            File.SetUnixFileMode(Path, (UnixFileMode)Convert.ToInt32("777", 8));
        }

        public string Path { get; }

        public void Dispose() => StaleClusters.RemoveDirectory(Path);
    }
}
