// NotifierPidFile.cs: $PGDATA/pg_stat_tmp/watchdog.pid, through which the library's promotion notifier finds cm_watchdog.
using System.Globalization;
using ConMgr.Hosting.Logging;

namespace ConMgr.Watchdog.Instance;

/// <summary>
/// Holds this process's PID while it runs with <c>-D</c>. The promotion notifier (extension/watchdog)
/// reads it when recovery ends and sends SIGUSR1; it checks /proc/PID/cmdline first, so a stale
/// file naming a reused PID is harmless. Removed at exit here, and by the launcher after it
/// reaps a killed child.
/// </summary>
public sealed class NotifierPidFile : IDisposable
{
    private readonly string _path;

    private NotifierPidFile(string path) => _path = path;

    public static NotifierPidFile? Create(string dataDirectory, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var path = Path.Combine(dataDirectory, "pg_stat_tmp", "watchdog.pid");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = path + ".tmp";
            File.WriteAllText(temp, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            File.Move(temp, path, overwrite: true);
            return new NotifierPidFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Promotions are then seen at the next attribute check instead of at once.
            log.Warning($"could not write \"{path}\": {ex.Message}; promotions will be noticed at the next check_attr_interval");
            return null;
        }
    }

    public void Dispose()
    {
        try
        {
            File.Delete(_path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
