// RecordingLoggerFactory.cs: an ILoggerFactory that keeps every log entry, so tests can assert on event ids and messages.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ConMgr.Testing;

/// <summary>One log entry as a library wrote it, with when (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>).</summary>
public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, long Timestamp);

/// <summary>Records every entry at every level, from every category.</summary>
public sealed class RecordingLoggerFactory : ILoggerFactory
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    /// <summary>Entries with event id <paramref name="id"/> from <paramref name="category"/>.</summary>
    public IReadOnlyList<LogEntry> Of(string category, int id) => [.. _entries.Where(e => e.Category == category && e.EventId.Id == id)];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("this factory records; it has no providers");

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), System.Diagnostics.Stopwatch.GetTimestamp()));
    }
}
