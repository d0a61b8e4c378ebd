// LoggingValues.cs: the enumerated values of the logging parameters (log_min_messages, log_destination, syslog_facility).
namespace ConMgr.Configuration;

/// <summary>
/// Message levels in PostgreSQL's log_min_messages order: a level lets through itself and
/// everything to its right. LOG sits between ERROR and FATAL, exactly as in PostgreSQL.
/// </summary>
public enum MessageLevel
{
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Log,
    Fatal,
    Panic,
}

/// <summary>Where messages go: <c>log_destination = 'stderr,syslog'</c>.</summary>
[Flags]
public enum LogDestinations
{
    None = 0,
    Stderr = 1,
    Syslog = 2,
}

/// <summary>syslog facilities LOCAL0..LOCAL7, valued as their RFC 5424 facility codes.</summary>
public enum SyslogFacility
{
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}
