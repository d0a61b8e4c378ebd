// StatusFile.cs: the file pgx_stat_watchdog reads: one line per connected conmgr, replaced atomically.
using System.Globalization;
using System.Text;

namespace ConMgr.Watchdog.Peers;

/// <summary>
/// <c>$PGDATA/pg_stat_tmp/watchdog.status</c>: tab-separated conmgr_addr, conmgr_port,
/// heartbeat_interval_ms, heartbeat_timeout_ms. Written to a temp file and renamed, so a reader
/// never sees half a file; rewritten at most every <see cref="MinInterval"/> however many
/// peers come and go (10,000 connects must not mean 10,000 rewrites). It lives in pg_stat_tmp
/// because pg_basebackup does not copy that directory's contents to a new standby, and it works
/// on standbys because it is a file, not a table.
/// </summary>
public sealed class StatusFile : IDisposable
{
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _path;
    private readonly Func<IReadOnlyList<ConmgrPeer>> _snapshot;
    private readonly ITimer _timer;
    private int _scheduled;

    public StatusFile(string dataDirectory, Func<IReadOnlyList<ConmgrPeer>> snapshot, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _path = Path.Combine(dataDirectory, "pg_stat_tmp", "watchdog.status");
        _snapshot = snapshot;
        _timer = time.CreateTimer(_ => Write(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public string FilePath => _path;

    /// <summary>Asks for a rewrite soon; many calls within <see cref="MinInterval"/> make one write.</summary>
    public void MarkChanged()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            _timer.Change(MinInterval, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Writes the current peers now.</summary>
    public void Write()
    {
        Interlocked.Exchange(ref _scheduled, 0);
        var text = new StringBuilder();
        foreach (var peer in _snapshot())
        {
            text.Append(peer.Address).Append('\t')
                .Append(peer.Port.ToString(CultureInfo.InvariantCulture)).Append('\t')
                .Append(((long)peer.Interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Append('\t')
                .Append(((long)peer.Timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            var temp = _path + ".tmp";
            File.WriteAllText(temp, text.ToString());
            File.Move(temp, _path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The view goes stale but heartbeats must go on; the next change tries again.
        }
    }

    /// <summary>Removes the file: no watchdog, no rows.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
        }
    }
}
