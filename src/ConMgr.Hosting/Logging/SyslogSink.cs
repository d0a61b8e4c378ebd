// SyslogSink.cs: log records as syslog datagrams on the local syslog socket (/dev/log).
using System.Net.Sockets;
using System.Text;
using ConMgr.Configuration;

namespace ConMgr.Hosting.Logging;

/// <summary>
/// Sends each record as one RFC 3164 datagram, the format glibc's syslog(3) uses on
/// <c>/dev/log</c>: <c>&lt;PRI&gt;Mmm dd hh:mm:ss ident[pid]: LEVEL:  message</c>.
/// The severity mapping is PostgreSQL's (elog.c). A missing socket is reported once on
/// stderr and then tolerated: logging must never stop conmgr.
/// </summary>
public sealed class SyslogSink : ILogSink
{
    /// <summary>Environment variable that overrides <see cref="DefaultSocketPath"/> (tests, chroots).</summary>
    public const string SocketPathVariable = "CONMGR_SYSLOG_SOCKET";

    public const string DefaultSocketPath = "/dev/log";

    /// <summary>Longest message body sent; longer ones are cut, as syslog daemons would anyway.</summary>
    public const int MaxMessageBytes = 8000;

    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    private readonly Lock _gate = new();
    private readonly SyslogFacility _facility;
    private readonly string _ident;
    private readonly string _path;
    private readonly int _pid = Environment.ProcessId;
    private Socket? _socket;
    private bool _complained;

    public SyslogSink(SyslogFacility facility, string ident, string? socketPath = null)
    {
        _facility = facility;
        _ident = ident;
        _path = socketPath ?? Environment.GetEnvironmentVariable(SocketPathVariable) ?? DefaultSocketPath;
    }

    /// <summary>syslog severity for a PostgreSQL message level, as PostgreSQL maps it.</summary>
    public static int Severity(MessageLevel level) => level switch
    {
        MessageLevel.Debug => 7,
        MessageLevel.Info or MessageLevel.Log => 6,
        MessageLevel.Notice or MessageLevel.Warning => 5,
        MessageLevel.Error => 4,
        MessageLevel.Fatal => 3,
        _ => 2,
    };

    public void Write(in LogRecord record)
    {
        var time = record.Time.ToLocalTime();
        var text = $"<{((int)_facility * 8) + Severity(record.Level)}>{Months[time.Month - 1]} {time.Day,2} {time:HH:mm:ss} {_ident}[{_pid}]: {record.LevelName}:  {record.Message}";
        var bytes = Encoding.UTF8.GetBytes(text);
        lock (_gate)
        {
            try
            {
                _socket ??= Connect();
                _socket.Send(bytes.AsSpan(0, Math.Min(bytes.Length, MaxMessageBytes)));
            }
            catch (SocketException ex)
            {
                _socket?.Dispose();
                _socket = null;
                if (!_complained)
                {
                    _complained = true;
                    Console.Error.WriteLine($"could not send to syslog socket \"{_path}\": {ex.Message}");
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _socket?.Dispose();
            _socket = null;
        }
    }

    private Socket Connect()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(_path));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
