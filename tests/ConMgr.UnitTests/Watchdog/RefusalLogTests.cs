// RefusalLogTests.cs: refused heartbeat connections in the log: the first of each window in full, the rest counted and summed when it ends.
using System.Net;
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using ConMgr.UnitTests.Logging;
using ConMgr.Watchdog.Server;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Watchdog;

public sealed class RefusalLogTests
{
    private static readonly IPEndPoint Remote = new(IPAddress.Parse("192.0.2.7"), 40000);

    [Fact]
    public void The_first_lines_of_a_window_are_logged_and_the_rest_are_summed_when_it_ends()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink();
        using var log = new ServerLog(MessageLevel.Log, [sink], time);
        using var refusals = new RefusalLog(log, time);

        for (var i = 0; i < 25; i++)
        {
            refusals.Record(Remote, "secret", $"authentication failed #{i}");
        }

        log.Flush();
        Assert.Equal(RefusalLog.LinesPerWindow, sink.Lines.Count);
        Assert.Equal("heartbeat connection from 192.0.2.7:40000 refused: authentication failed #0", sink.Lines[0]);
        Assert.Equal(25, refusals.Total);

        // The window ends with no further refusal: the timer sums the rest, naming the last one.
        time.Advance(RefusalLog.Window);
        log.Flush();
        Assert.Equal(RefusalLog.LinesPerWindow + 1, sink.Lines.Count);
        Assert.Equal("15 more heartbeat connections refused in the last 10 s (last: 192.0.2.7:40000: authentication failed #24)", sink.Lines[^1]);

        // A new window starts in full again.
        refusals.Record(Remote, "tls", "TLS handshake failed");
        log.Flush();
        Assert.Equal("heartbeat connection from 192.0.2.7:40000 refused: TLS handshake failed", sink.Lines[^1]);
        time.Advance(RefusalLog.Window * 3);
        log.Flush();
        Assert.Equal(RefusalLog.LinesPerWindow + 2, sink.Lines.Count);
    }
}
