// ServerLog.cs: the one logger of a ConMgr process: level filter, then a bounded queue to one writer thread and the sinks.
using System.Threading.Channels;
using ConMgr.Configuration;

namespace ConMgr.Hosting.Logging;

/// <summary>
/// Filters by <c>log_min_messages</c> (PostgreSQL order, LOG above ERROR) and queues each record
/// for a dedicated writer thread that hands it to every sink. A caller (a socket completion, a
/// timer) never waits for stderr or syslog. The queue is bounded at <see cref="Capacity"/>
/// records; a record that finds it full is counted, and the writer reports the count
/// ("N log lines dropped") before the next line it writes, so no line is lost silently.
/// <see cref="Dispose"/> writes what is queued first.
/// </summary>
public sealed class ServerLog : IDisposable
{
    /// <summary>Records that may wait for the writer.</summary>
    public const int Capacity = 10_000;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private readonly ILogSink[] _sinks;
    private readonly TimeProvider _time;
    // Synchronous continuations: the writer thread blocks on WaitToReadAsync, and with the default
    // (asynchronous) continuations its wake-up would be a work item on the thread pool, so a busy
    // or starved pool would hold every log line back. Here the writing thread only sets the
    // writer's event; the line itself is still written on the writer thread.
    private readonly Channel<LogRecord> _queue = Channel.CreateBounded<LogRecord>(new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait, AllowSynchronousContinuations = true });
    private readonly Thread _writer;
    private long _dropped;
    private long _pending;
    private int _disposed;

    public ServerLog(MessageLevel minLevel, IEnumerable<ILogSink> sinks, TimeProvider? time = null)
    {
        MinLevel = minLevel;
        _sinks = [.. sinks];
        _time = time ?? TimeProvider.System;
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "log writer" };
        _writer.Start();
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

        Interlocked.Increment(ref _pending);
        if (!_queue.Writer.TryWrite(new LogRecord(_time.GetUtcNow(), level, message)))
        {
            Interlocked.Decrement(ref _pending);
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Waits (up to 5 s) until every record queued so far has reached the sinks.</summary>
    public void Flush()
    {
        var deadline = Environment.TickCount64 + (long)DrainTimeout.TotalMilliseconds;
        while (Interlocked.Read(ref _pending) > 0 && Environment.TickCount64 < deadline && _writer.IsAlive)
        {
            Thread.Sleep(1);
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
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        _writer.Join(DrainTimeout);
        foreach (var sink in _sinks)
        {
            sink.Dispose();
        }
    }

    private void WriteLoop()
    {
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var record))
            {
                var dropped = Interlocked.Exchange(ref _dropped, 0);
                if (dropped > 0)
                {
                    WriteToSinks(new LogRecord(_time.GetUtcNow(), MessageLevel.Warning, $"{dropped} log line(s) dropped: more than {Capacity} were waiting to be written"));
                }

                // Escaped here, on the writer thread, rather than at every call site: any message
                // may quote a peer (a server's error repeats the database name a client chose).
                WriteToSinks(record with { Message = Protocol.PeerText.ForLog(record.Message) });
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    private void WriteToSinks(in LogRecord record)
    {
        foreach (var sink in _sinks)
        {
            try
            {
                sink.Write(record);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A broken stderr or syslog socket must not stop the writer (and with it every later
                // line), nor, on this thread, bring the process down.
            }
        }
    }
}
