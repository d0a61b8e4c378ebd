// LogRecord.cs: one message on its way to the log sinks.
using ConMgr.Configuration;

namespace ConMgr.Hosting.Logging;

/// <summary>A message with its level and time. Formatting is the sink's business.</summary>
public readonly record struct LogRecord(DateTimeOffset Time, MessageLevel Level, string Message)
{
    /// <summary>The level as PostgreSQL prints it: DEBUG, INFO, NOTICE, WARNING, ERROR, LOG, FATAL, PANIC.</summary>
    public string LevelName => Level switch
    {
        MessageLevel.Debug => "DEBUG",
        MessageLevel.Info => "INFO",
        MessageLevel.Notice => "NOTICE",
        MessageLevel.Warning => "WARNING",
        MessageLevel.Error => "ERROR",
        MessageLevel.Log => "LOG",
        MessageLevel.Fatal => "FATAL",
        _ => "PANIC",
    };
}

/// <summary>A destination for log records (stderr, syslog, a test's list).</summary>
public interface ILogSink : IDisposable
{
    void Write(in LogRecord record);
}
