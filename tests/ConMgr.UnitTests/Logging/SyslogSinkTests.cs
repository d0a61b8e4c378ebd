// SyslogSinkTests.cs: syslog datagrams carry facility, severity and ident as syslog(3) would send them.
using System.Net.Sockets;
using System.Text;
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;

namespace ConMgr.UnitTests.Logging;

public sealed class SyslogSinkTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"cm-syslog-{Guid.NewGuid():N}.sock");
    private readonly Socket _server = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public SyslogSinkTests()
    {
        _server.Bind(new UnixDomainSocketEndPoint(_path));
        _server.ReceiveTimeout = 5000;
    }

    [Theory]
    [InlineData(SyslogFacility.Local0, MessageLevel.Log, 134)]
    [InlineData(SyslogFacility.Local3, MessageLevel.Warning, 157)]
    [InlineData(SyslogFacility.Local7, MessageLevel.Fatal, 187)]
    [InlineData(SyslogFacility.Local7, MessageLevel.Panic, 186)]
    [InlineData(SyslogFacility.Local1, MessageLevel.Debug, 143)]
    [InlineData(SyslogFacility.Local1, MessageLevel.Error, 140)]
    public void Datagram_has_priority_ident_pid_and_message(SyslogFacility facility, MessageLevel level, int priority)
    {
        using var sink = new SyslogSink(facility, "cm-test", _path);

        sink.Write(new LogRecord(DateTimeOffset.UtcNow, level, "hello syslog"));

        var datagram = Receive();
        Assert.StartsWith($"<{priority}>", datagram, StringComparison.Ordinal);
        Assert.Matches(@"^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d cm-test\[\d+\]: ", datagram);
        Assert.Contains($"cm-test[{Environment.ProcessId}]: ", datagram, StringComparison.Ordinal);
        Assert.EndsWith($"{new LogRecord(default, level, string.Empty).LevelName}:  hello syslog", datagram, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_socket_does_not_throw()
    {
        using var sink = new SyslogSink(SyslogFacility.Local0, "x", "/nonexistent/dev-log");

        var ex = Record.Exception(() => sink.Write(new LogRecord(DateTimeOffset.UtcNow, MessageLevel.Log, "lost")));

        Assert.Null(ex);
    }

    public void Dispose()
    {
        _server.Dispose();
        File.Delete(_path);
    }

    private string Receive()
    {
        var buffer = new byte[65536];
        var read = _server.Receive(buffer);
        return Encoding.UTF8.GetString(buffer, 0, read);
    }
}
