// RecordingSink.cs: a log sink that keeps every message, for tests that assert what was logged.
using ConMgr.Hosting.Logging;

namespace ConMgr.UnitTests.Logging;

/// <summary>Thread-safe: the log's writer thread adds, the test reads a copy (after <c>ServerLog.Flush</c>).</summary>
internal sealed class RecordingSink : ILogSink
{
    private readonly List<string> _lines = [];

    public List<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public void Write(in LogRecord record)
    {
        lock (_lines)
        {
            _lines.Add(record.Message);
        }
    }

    public void Dispose()
    {
    }
}
