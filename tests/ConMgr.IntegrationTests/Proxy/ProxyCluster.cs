// ProxyCluster.cs: a transparent cluster whose conmgr also listens on a read-write and a read-only port.
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

/// <summary>What the proxy tests share: ports, plain connection strings (no ConMgr.Client), psql.</summary>
public static class ProxyCluster
{
    /// <param name="relay"><c>reactor</c> (plaintext's relay) or <c>stream</c> (the Stream relay TLS will use), through CONMGR_PROXY_RELAY.</param>
    public static async Task<(TransparentCluster Cluster, int ReadWritePort, int ReadOnlyPort)> StartAsync(int standbys = 1, string extraConmgrLines = "", string heartbeatTimeout = "1s", string relay = "reactor", IReadOnlyList<string>? serverSettings = null)
    {
        var rw = FreePort.Next();
        var ro = FreePort.Next();
        var t = await TransparentCluster.StartAsync(standbys, $"read_write_port = {rw}\nread_only_port = {ro}\nlisten_addresses = '127.0.0.1'\n{extraConmgrLines}", heartbeatTimeout: heartbeatTimeout, conmgrEnvironment: new Dictionary<string, string> { ["CONMGR_PROXY_RELAY"] = relay }, serverSettings: serverSettings);
        return (t, rw, ro);
    }

    /// <summary>An ordinary Npgsql connection string to a proxy port: the application knows nothing of conmgr.</summary>
    public static string ConnectionString(int port, string extra = "") =>
        $"Host=127.0.0.1;Port={port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres;Pooling=false;Timeout=10;Command Timeout=60;{extra}";

    public static async Task<NpgsqlConnection> OpenAsync(int port, string extra = "")
    {
        var connection = new NpgsqlConnection(ConnectionString(port, extra));
        await connection.OpenAsync();
        return connection;
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>psql -X -c <paramref name="sql"/> against a proxy port, left running (its output in <paramref name="logName"/> in conmgr's directory).</summary>
    public static BackgroundProcess StartPsql(TransparentCluster t, int port, string sql, string logName) => BackgroundProcess.Start(
        "psql",
        ["-X", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-c", sql],
        RunAs.Postgres,
        Path.Combine(t.Node.Directory, logName));

    /// <summary>psql -X against a proxy port, as the postgres OS user; its whole output.</summary>
    public static Task<ProcessResult> PsqlAsync(int port, params string[] args) =>
        ProcessRunner.RunAsync("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", .. args], RunAs.Postgres, TimeSpan.FromSeconds(60));
}
