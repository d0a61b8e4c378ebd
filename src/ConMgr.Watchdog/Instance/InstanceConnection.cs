// InstanceConnection.cs: how the watchdog reaches its instance: the Unix socket named in postmaster.pid, or a connection string.
using System.Globalization;
using Npgsql;

namespace ConMgr.Watchdog.Instance;

/// <summary>
/// Builds the connection string of the watchdog's two SQL connections. With <c>-D PGDATA</c>
/// it reads the port and the first Unix socket directory from postmaster.pid on every connect
/// (they change when the instance restarts with another configuration), and connects over
/// that socket as the OS user: such sessions have no client_addr, so the terminator can never
/// kill the watchdog's own connections.
/// </summary>
public sealed class InstanceConnection
{
    private readonly string? _dataDirectory;
    private readonly string? _connectionString;

    private InstanceConnection(string? dataDirectory, string? connectionString)
    {
        _dataDirectory = dataDirectory;
        _connectionString = connectionString;
    }

    public string? DataDirectory => _dataDirectory;

    public static InstanceConnection ForDataDirectory(string dataDirectory) => new(Path.GetFullPath(dataDirectory), null);

    public static InstanceConnection ForConnectionString(string connectionString) => new(null, connectionString);

    /// <summary>True when <paramref name="connectionString"/> names a password (or cannot be parsed, which is refused later anyway).</summary>
    public static bool HasPassword(string connectionString)
    {
        try
        {
            return !string.IsNullOrEmpty(new NpgsqlConnectionStringBuilder(connectionString).Password);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>A description for log lines (no password).</summary>
    public string Describe() => _dataDirectory is not null ? $"data directory \"{_dataDirectory}\"" : $"\"{new NpgsqlConnectionStringBuilder(_connectionString) { Password = null }}\"";

    public string BuildConnectionString(string applicationName)
    {
        var builder = _connectionString is not null ? new NpgsqlConnectionStringBuilder(_connectionString) : FromPostmasterPid();
        builder.ApplicationName = applicationName;
        builder.Pooling = false;
        builder.Timeout = 5;
        builder.CommandTimeout = 10;
        builder.KeepAlive = 0;
        return builder.ConnectionString;
    }

    /// <summary>
    /// Whether the instance is going away, from postmaster.pid (-D mode): no file, a dead
    /// postmaster, or its status line (the 8th) saying "stopping", which the postmaster writes
    /// before it signals its children at every shutdown mode. Null with -d, where only a query
    /// could tell.
    /// </summary>
    public bool? IsStopping()
    {
        if (_dataDirectory is null)
        {
            return null;
        }

        try
        {
            var lines = File.ReadAllLines(Path.Combine(_dataDirectory, "postmaster.pid"));
            var alive = lines.Length > 0 && int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Hosting.Posix.Libc.IsAlive(pid);
            return !alive || (lines.Length >= 8 && lines[7].Trim() == "stopping");
        }
        catch (IOException)
        {
            return true;
        }
    }

    private NpgsqlConnectionStringBuilder FromPostmasterPid()
    {
        // postmaster.pid: pid, data directory, start time, port, socket directory, listen address, ...
        var lines = File.ReadAllLines(Path.Combine(_dataDirectory!, "postmaster.pid"));
        if (lines.Length < 5 || !int.TryParse(lines[3], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            throw new IOException("postmaster.pid is incomplete: the instance is still starting");
        }

        var socketDirectory = string.IsNullOrEmpty(lines[4]) ? "/tmp" : lines[4];
        return new NpgsqlConnectionStringBuilder
        {
            Host = socketDirectory,
            Port = port,
            Username = Environment.UserName,
            Database = "postgres",
        };
    }
}
