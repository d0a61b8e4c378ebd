// PgBouncerPeer.cs: Debian's PgBouncer, configured and started as a benchmark's comparison.
using System.Net;
using System.Net.Sockets;
using ConMgr.Testing;

namespace ConMgr.Bench;

public static class PgBouncerPeer
{
    /// <summary>
    /// PgBouncer on a free loopback port in <paramref name="directory"/>, trust authentication,
    /// every database sent to <paramref name="serverHost"/>:<paramref name="serverPort"/>, as the postgres OS user.
    /// </summary>
    /// <param name="authType">PgBouncer's auth_type (trust, or scram-sha-256 with <paramref name="users"/> holding the verifiers).</param>
    /// <param name="users">auth_file's lines (default: postgres with no password).</param>
    public static async Task<(BackgroundProcess Process, int Port)> StartAsync(string directory, string serverHost, int serverPort, string extraSettings = "", string authType = "trust", string? users = null)
    {
        var port = FreePort.Next();
        Directory.CreateDirectory(directory);
        var ini = Path.Combine(directory, "pgbouncer.ini");
        await File.WriteAllTextAsync(ini, $"""
            [databases]
            * = host={serverHost} port={serverPort}
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            auth_type = {authType}
            auth_file = {Path.Combine(directory, "users.txt")}
            unix_socket_dir =
            logfile = {Path.Combine(directory, "pgbouncer.log")}
            log_connections = 0
            log_disconnections = 0
            {extraSettings}
            """);
        await File.WriteAllTextAsync(Path.Combine(directory, "users.txt"), users ?? "\"postgres\" \"\"\n");
        await ProcessRunner.RunAsync("chown", ["-R", "postgres", directory], RunAs.Self);
        var process = BackgroundProcess.Start("/usr/sbin/pgbouncer", [ini], RunAs.Postgres, Path.Combine(directory, "pgbouncer.stderr"));
        await Poll.UntilAsync(() => CanConnect(port), TimeSpan.FromSeconds(30), "pgbouncer to listen");
        return (process, port);
    }

    /// <summary>True when something accepts TCP connections on the loopback port.</summary>
    public static bool CanConnect(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
