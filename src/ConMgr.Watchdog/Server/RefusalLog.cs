// RefusalLog.cs: connections refused before they became links, counted and logged without letting a flood flood the log.
using System.Net;
using ConMgr.Hosting.Logging;

namespace ConMgr.Watchdog.Server;

/// <summary>
/// Every connection refused before it became a link (failed TLS handshake, wrong secret, no hello,
/// plaintext where TLS is required, no slot, too many from one address) is counted, in the metrics
/// and here, and logged through a <see cref="RateLimitedLog"/>: the first <see cref="LinesPerWindow"/>
/// of each <see cref="Window"/> in full, the rest summed up in one line with the last one's address and reason.
/// </summary>
internal sealed class RefusalLog(ServerLog log, TimeProvider time) : IDisposable
{
    public const int LinesPerWindow = 10;
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private readonly RateLimitedLog _lines = new(log, time, LinesPerWindow, Window, "heartbeat connections refused");
    private long _total;

    /// <summary>All refusals so far.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <param name="kind">A short label for the metrics (tls, secret, hello, plaintext, pending, address, slots, protocol).</param>
    public void Record(IPEndPoint remote, string kind, string reason)
    {
        Interlocked.Increment(ref _total);
        Diagnostics.WatchdogMetrics.RecordRefusal(kind);
        _lines.Log($"heartbeat connection from {remote} refused: {reason}", $"{remote}: {reason}");
    }

    public void Dispose() => _lines.Dispose();
}
