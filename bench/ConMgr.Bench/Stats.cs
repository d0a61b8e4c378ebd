// Stats.cs: medians and percentiles of a benchmark's samples.
using System.Globalization;

namespace ConMgr.Bench;

public static class Stats
{
    public static double Percentile(IReadOnlyList<double> samples, double p)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var sorted = samples.Order().ToArray();
        var rank = p / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }

    /// <summary>"min / median / p90 / max" of <paramref name="samples"/> in milliseconds.</summary>
    public static string Summary(IReadOnlyList<double> samples) => string.Create(
        CultureInfo.InvariantCulture,
        $"min {samples.Min():0} / median {Percentile(samples, 50):0} / p90 {Percentile(samples, 90):0} / max {samples.Max():0} ms");
}
