// StderrSink.cs: log lines on standard error, in PostgreSQL's default log_line_prefix shape.
using System.Text;

namespace ConMgr.Hosting.Logging;

/// <summary>
/// Writes <c>2026-11-23 03:20:00.123 UTC [1234] LOG:  message</c>, like PostgreSQL with
/// <c>log_line_prefix = '%m [%p] '</c>. One line per record; a multi-line message keeps its lines, each continuation line starting with a tab as in PostgreSQL's log (ServerLog escapes every message through PeerText.ForLog).
/// </summary>
public sealed class StderrSink(TextWriter writer) : ILogSink
{
    private readonly Lock _gate = new();
    private readonly int _pid = Environment.ProcessId;

    public StderrSink()
        : this(Console.Error)
    {
    }

    public void Write(in LogRecord record)
    {
        var line = new StringBuilder(64 + record.Message.Length)
            .Append(record.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff"))
            .Append(" UTC [").Append(_pid).Append("] ")
            .Append(record.LevelName).Append(":  ")
            .Append(record.Message)
            .ToString();
        lock (_gate)
        {
            writer.WriteLine(line);
            writer.Flush();
        }
    }

    public void Dispose()
    {
    }
}
