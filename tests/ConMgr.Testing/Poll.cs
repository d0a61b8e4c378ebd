// Poll.cs: waiting for a condition with a deadline, instead of sleeping and hoping.
using System.Diagnostics;

namespace ConMgr.Testing;

public static class Poll
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Polls until <paramref name="condition"/> holds; returns the time it took; throws on timeout.</summary>
    public static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var watch = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return watch.Elapsed;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                last = ex;
            }

            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.###} s waiting for {what}" + (last is null ? string.Empty : $" (last error: {last.Message})"));
            }

            await Task.Delay(Interval);
        }
    }

    public static Task<TimeSpan> UntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what);
}
