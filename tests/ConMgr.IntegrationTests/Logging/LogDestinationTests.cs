// LogDestinationTests.cs: the running conmgr logs to syslog with the configured facility and ident, filtered by level.
using System.Net.Sockets;
using System.Text;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Logging;

public sealed class LogDestinationTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Syslog_datagrams_arrive_with_facility_and_ident()
    {
        await using var node = await ConMgrNode.CreateAsync(
            "backend_hostaddr0 = '127.0.0.1'\nlog_destination = 'syslog'\nsyslog_facility = 'LOCAL3'\nsyslog_ident = 'cm-it'\nlog_min_messages = log\n");
        var socketPath = Path.Combine(node.Directory, "devlog");
        using var syslog = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        syslog.Bind(new UnixDomainSocketEndPoint(socketPath));
        File.SetUnixFileMode(socketPath, (UnixFileMode)0b110_110_110);
        node.Environment["CONMGR_SYSLOG_SOCKET"] = socketPath;

        await node.StartAsync();
        var pid = node.Pid!.Value;

        var messages = new List<string>();
        using var cts = new CancellationTokenSource(Deadline);
        var buffer = new byte[65536];
        while (!messages.Any(m => m.Contains("is ready to accept connections", StringComparison.Ordinal)))
        {
            var read = await syslog.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            messages.Add(Encoding.UTF8.GetString(buffer, 0, read));
        }

        // LOCAL3 = facility 19; LOG maps to syslog INFO (6): PRI = 19 * 8 + 6.
        var ready = messages.Single(m => m.Contains("is ready to accept connections", StringComparison.Ordinal));
        Assert.StartsWith("<158>", ready, StringComparison.Ordinal);
        Assert.Contains($" cm-it[{pid}]: LOG:  conmgr ", ready, StringComparison.Ordinal);
        Assert.DoesNotContain("is ready to accept connections", node.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stderr_lines_are_filtered_by_log_min_messages()
    {
        await using var verbose = await ConMgrNode.CreateAsync("backend_hostaddr0 = '127.0.0.1'\nlog_min_messages = debug\n");
        await using var quiet = await ConMgrNode.CreateAsync("backend_hostaddr0 = '127.0.0.1'\nlog_min_messages = fatal\n");
        await verbose.StartAsync();
        await quiet.StartAsync();

        // A client that closes before its startup packet produces a DEBUG line.
        using (await PgWire.ConnectAsync("127.0.0.1", verbose.Port))
        {
        }

        await Poll.UntilAsync(() => verbose.Log.Contains("DEBUG:  connection from 127.0.0.1", StringComparison.Ordinal), Deadline, "the DEBUG line");
        Assert.Matches(@"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \[\d+\] LOG:  conmgr \S+ is ready to accept connections", verbose.Log);
        Assert.DoesNotContain("LOG:", quiet.Log, StringComparison.Ordinal);
        Assert.Equal("ready", (await quiet.StatusAsync()).State);
    }
}
