// SystemPressure.cs: the kernel's own account of CPU steal (/proc/stat) and pressure (/proc/pressure/cpu), for verdict log lines.
using System.Globalization;

namespace ConMgr.Heartbeat.Reactor;

/// <summary>
/// What the machine was doing when a verdict was given: the share of CPU time the hypervisor
/// stole since the previous sample (a VM not run) and the CPU pressure stall averages (tasks
/// waiting for a CPU). Either is left out where the kernel does not provide it. Reading both
/// costs two small /proc reads; the reactor samples steal at most every few seconds.
/// </summary>
public sealed class SystemPressure
{
    private (long Steal, long Total) _baseline = ReadStat();
    private long _baselineAt;

    /// <summary>Keeps the steal baseline at most <paramref name="every"/> old, so a verdict reports recent steal.</summary>
    public void Sample(long now, long every)
    {
        if (now - _baselineAt >= every)
        {
            _baseline = ReadStat();
            _baselineAt = now;
        }
    }

    /// <summary>"CPU steal 0.0 % since the last sample, CPU pressure some avg10=1.20 avg60=0.50", or null when neither is known.</summary>
    public string? Describe()
    {
        var parts = new List<string>(2);
        var (steal, total) = ReadStat();
        if (total > _baseline.Total && total > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"CPU steal {100.0 * (steal - _baseline.Steal) / (total - _baseline.Total):0.0} % since the last sample"));
        }

        if (ReadPressure() is { } pressure)
        {
            parts.Add($"CPU pressure {pressure}");
        }

        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    /// <summary>The "cpu" line of /proc/stat: steal (the 8th field) and the sum of all fields; zeros when unreadable.</summary>
    internal static (long Steal, long Total) ReadStat()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            return ParseStat(reader.ReadLine());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (0, 0);
        }
    }

    internal static (long Steal, long Total) ParseStat(string? line)
    {
        if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal))
        {
            return (0, 0);
        }

        long total = 0, steal = 0;
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 1; i < fields.Length; i++)
        {
            if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue / 16)
            {
                return (0, 0);
            }

            total += value;
            if (i == 8)
            {
                steal = value;
            }
        }

        return (steal, total);
    }

    /// <summary>The "some" line of /proc/pressure/cpu without its total ("some avg10=1.20 avg60=0.50 avg300=0.10"), or null.</summary>
    internal static string? ReadPressure()
    {
        try
        {
            using var reader = new StreamReader("/proc/pressure/cpu");
            return ParsePressure(reader.ReadLine());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }

    internal static string? ParsePressure(string? line)
    {
        if (line is null || !line.StartsWith("some ", StringComparison.Ordinal) || line.Length > 200)
        {
            return null;
        }

        var total = line.IndexOf(" total=", StringComparison.Ordinal);
        return total < 0 ? line : line[..total];
    }
}
