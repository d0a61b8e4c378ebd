// ServerLog.cs: the one logger of a ConMgr process: level filter in front of the configured sinks.
using ConMgr.Configuration;

namespace ConMgr.Hosting.Logging;

/// <summary>
/// Filters by <c>log_min_messages</c> (PostgreSQL order, LOG above ERROR) and hands each record
/// to every sink. Thread-safe; sinks serialise their own output.
/// </summary>
public sealed class ServerLog : IDisposable
{
    private readonly ILogSink[] _sinks;
    private readonly TimeProvider _time;

    public ServerLog(MessageLevel minLevel, IEnumerable<ILogSink> sinks, TimeProvider? time = null)
    {
        MinLevel = minLevel;
        _sinks = [.. sinks];
        _time = time ?? TimeProvider.System;
    }

    public MessageLevel MinLevel { get; }

    /// <summary>A stderr-only log at the default level, for before the configuration is read.</summary>
    public static ServerLog Bootstrap() => new(MessageLevel.Warning, [new StderrSink()]);

    /// <summary>The log conmgr.conf asks for.</summary>
    public static ServerLog FromSettings(MessageLevel minLevel, LogDestinations destinations, SyslogFacility facility, string ident)
    {
        var sinks = new List<ILogSink>();
        if (destinations.HasFlag(LogDestinations.Stderr))
        {
            sinks.Add(new StderrSink());
        }

        if (destinations.HasFlag(LogDestinations.Syslog))
        {
            sinks.Add(new SyslogSink(facility, ident));
        }

        return new ServerLog(minLevel, sinks);
    }

    public bool IsEnabled(MessageLevel level) => level >= MinLevel;

    public void Write(MessageLevel level, string message)
    {
        if (!IsEnabled(level))
        {
            return;
        }

        var record = new LogRecord(_time.GetUtcNow(), level, message);
        foreach (var sink in _sinks)
        {
            sink.Write(record);
        }
    }

    public void Debug(string message) => Write(MessageLevel.Debug, message);

    public void Info(string message) => Write(MessageLevel.Info, message);

    public void Warning(string message) => Write(MessageLevel.Warning, message);

    public void Error(string message) => Write(MessageLevel.Error, message);

    public void Log(string message) => Write(MessageLevel.Log, message);

    public void Fatal(string message) => Write(MessageLevel.Fatal, message);

    public void Dispose()
    {
        foreach (var sink in _sinks)
        {
            sink.Dispose();
        }
    }
}
