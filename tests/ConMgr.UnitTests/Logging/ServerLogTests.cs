// ServerLogTests.cs: level filtering in PostgreSQL's order and the stderr line format.
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Logging;

public sealed class ServerLogTests
{
    private static readonly MessageLevel[] AllLevels = Enum.GetValues<MessageLevel>();

    [Theory]
    [InlineData(MessageLevel.Debug, "DEBUG INFO NOTICE WARNING ERROR LOG FATAL PANIC")]
    [InlineData(MessageLevel.Warning, "WARNING ERROR LOG FATAL PANIC")]
    [InlineData(MessageLevel.Error, "ERROR LOG FATAL PANIC")]
    [InlineData(MessageLevel.Log, "LOG FATAL PANIC")]
    [InlineData(MessageLevel.Panic, "PANIC")]
    public void Min_level_lets_through_itself_and_the_levels_to_its_right(MessageLevel min, string expected)
    {
        var sink = new ListSink();
        using var log = new ServerLog(min, [sink]);

        foreach (var level in AllLevels)
        {
            log.Write(level, "m");
        }

        log.Flush();
        Assert.Equal(expected, string.Join(' ', sink.Records.Select(r => r.LevelName)));
    }

    [Fact]
    public void Stderr_lines_have_postgresql_prefix()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 3, 20, 1, 234, TimeSpan.Zero));
        using var writer = new StringWriter();
        using var log = new ServerLog(MessageLevel.Log, [new StderrSink(writer)], time);

        log.Log("conmgr is ready");
        log.Warning("filtered out");
        log.Fatal("bye");
        log.Flush();

        Assert.Equal(
            $"2026-11-23 03:20:01.234 UTC [{Environment.ProcessId}] LOG:  conmgr is ready\n2026-11-23 03:20:01.234 UTC [{Environment.ProcessId}] FATAL:  bye\n",
            writer.ToString().Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    [Fact]
    public void A_message_quoting_a_peer_is_written_with_its_escapes_shown_and_its_continuation_lines_indented_as_postgresql_does()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 15, 0, 0, TimeSpan.Zero));
        using var writer = new StringWriter();
        using var log = new ServerLog(MessageLevel.Log, [new StderrSink(writer)], time);

        // As a server's error repeats a database name the client chose.
        log.Log("closing: database \"\u001b[2Jx\r\n2026-12-07 15:00:00.000 UTC [1] FATAL:  forged\" does not exist");
        log.Flush();

        Assert.Equal(
            $"2026-12-07 15:00:00.000 UTC [{Environment.ProcessId}] LOG:  closing: database \"\\x1B[2Jx\\x0D\n\t2026-12-07 15:00:00.000 UTC [1] FATAL:  forged\" does not exist\n",
            writer.ToString().Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    [Fact]
    public void A_full_queue_drops_lines_and_says_how_many()
    {
        using var sink = new GatedSink();
        using var log = new ServerLog(MessageLevel.Log, [sink]);
        log.Log("first");
        Assert.True(sink.Entered.Wait(TimeSpan.FromSeconds(10)), "the writer took the first line");

        for (var i = 0; i < ServerLog.Capacity + 5; i++)
        {
            log.Log("queued");
        }

        sink.Gate.Set();
        log.Flush();

        Assert.Equal(1 + ServerLog.Capacity + 1, sink.Records.Count);
        Assert.Equal("5 log line(s) dropped: more than 10000 were waiting to be written", sink.Records[1].Message);
        Assert.Equal("WARNING", sink.Records[1].LevelName);
    }

    [Fact]
    public void Dispose_writes_what_is_queued()
    {
        var sink = new ListSink();
        var log = new ServerLog(MessageLevel.Log, [sink]);
        for (var i = 0; i < 1000; i++)
        {
            log.Log("line");
        }

        log.Dispose();

        Assert.Equal(1000, sink.Records.Count);
    }

    private sealed class GatedSink : ILogSink
    {
        public ManualResetEventSlim Entered { get; } = new();

        public ManualResetEventSlim Gate { get; } = new();

        public List<LogRecord> Records { get; } = [];

        public void Write(in LogRecord record)
        {
            Entered.Set();
            Gate.Wait();
            Records.Add(record);
        }

        public void Dispose()
        {
            Entered.Dispose();
            Gate.Dispose();
        }
    }

    private sealed class ListSink : ILogSink
    {
        public List<LogRecord> Records { get; } = [];

        public void Write(in LogRecord record) => Records.Add(record);

        public void Dispose()
        {
        }
    }
}
