// Lateness.cs: what a heartbeat thread's wake-lateness histogram gained between two scrapes, in words.
using System.Globalization;

namespace ConMgr.Bench;

/// <summary>Reads <c>heartbeat_thread_wake_lateness_seconds</c> and <c>heartbeat_thread_pauses_total</c> from Prometheus text.</summary>
public static class Lateness
{
    private const string Bucket = "heartbeat_thread_wake_lateness_seconds_bucket{";
    private const string PausesTotal = "heartbeat_thread_pauses_total";

    /// <summary>Wakes in the interval, the bucket the worst of them fell in, and the pauses counted.</summary>
    public static string Describe(string before, string after)
    {
        var a = Buckets(before);
        var b = Buckets(after);
        if (b.Count == 0)
        {
            return "no wake-lateness histogram in /metrics";
        }

        var deltas = b.Select(kv => (Le: kv.Key, Count: kv.Value - a.GetValueOrDefault(kv.Key))).OrderBy(x => x.Le).ToList();
        var total = deltas[^1].Count;
        var index = deltas.FindIndex(x => x.Count == total);
        var worst = index switch
        {
            0 => $"under {Ms(deltas[0].Le)}",
            _ when double.IsPositiveInfinity(deltas[index].Le) => $"over {Ms(deltas[index - 1].Le)}",
            _ => $"{Ms(deltas[index - 1].Le)} to {Ms(deltas[index].Le)}",
        };
        var over10 = total - deltas.First(x => x.Le >= 0.01).Count;
        return string.Create(CultureInfo.InvariantCulture, $"{total} wakes, worst lateness {worst}, {over10} later than 10 ms, {Counter(after, PausesTotal) - Counter(before, PausesTotal)} pause(s) of 50 ms or more");
    }

    private static string Ms(double seconds) => string.Create(CultureInfo.InvariantCulture, $"{seconds * 1000:0.#} ms");

    private static Dictionary<double, long> Buckets(string text)
    {
        var buckets = new Dictionary<double, long>();
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(Bucket, StringComparison.Ordinal))
            {
                continue;
            }

            var le = line.IndexOf("le=\"", StringComparison.Ordinal);
            var end = le < 0 ? -1 : line.IndexOf('"', le + 4);
            var space = line.LastIndexOf(' ');
            if (end < 0 || space < 0)
            {
                continue;
            }

            var bound = line[(le + 4)..end];
            var value = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            buckets[bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture)] = (long)value;
        }

        return buckets;
    }

    private static long Counter(string text, string name)
    {
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal) && (l.Length > name.Length && (l[name.Length] == ' ' || l[name.Length] == '{')));
        return line is null ? 0 : (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }
}
