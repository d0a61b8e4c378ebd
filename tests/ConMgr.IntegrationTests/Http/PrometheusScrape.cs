// PrometheusScrape.cs: one scrape of an HTTP port's /metrics, parsed by Prometheus's reference parser (tests/http/parse-metrics.py).
using System.Text.Json;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Http;

/// <summary>The parser's families: type by family name, samples by sample name and labels.</summary>
public sealed class PrometheusScrape(JsonDocument json)
{
    private static readonly string Parser = Path.Combine(RepoPaths.Root, "tests", "http", "parse-metrics.py");

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>Scrapes <paramref name="port"/>'s /metrics into a file in <paramref name="directory"/> and parses it; a parse error fails the test.</summary>
    public static async Task<PrometheusScrape> GetAsync(int port, string directory)
    {
        var answer = await HttpProbe.GetAsync(port, "/metrics");
        Assert.Equal(200, answer.Status);
        var file = Path.Combine(directory, $"metrics-{port}.txt");
        await File.WriteAllTextAsync(file, answer.Body);
        var parsed = await ProcessRunner.RunAsync(Parser, [file], RunAs.Self, TimeSpan.FromSeconds(30));
        Assert.True(parsed.ExitCode == 0, parsed.Output);
        return new PrometheusScrape(JsonDocument.Parse(parsed.StandardOutput));
    }

    /// <summary>
    /// Scrapes until <paramref name="ready"/> holds: counters and histograms are updated after the
    /// events a test waits for (a refusal is logged before it is counted; the first RTT sample
    /// needs a beat echoed), so a single scrape right after the event may precede them.
    /// </summary>
    public static async Task<PrometheusScrape> UntilAsync(int port, string directory, Func<PrometheusScrape, bool> ready, TimeSpan timeout, string what)
    {
        PrometheusScrape? last = null;
        await Poll.UntilAsync(async () => ready(last = await GetAsync(port, directory)), timeout, what);
        return last!;
    }

    /// <summary>The one sample with these labels, or null when there is none or more than one.</summary>
    public double? TryValue(string name, params (string Name, string Value)[] labels) =>
        Samples(name, labels) is [var only] ? only.Value : null;

    public string? Type(string family) => json.RootElement.EnumerateArray().Where(f => f.GetProperty("name").GetString() == family).Select(f => f.GetProperty("type").GetString()).SingleOrDefault();

    public IReadOnlyList<Sample> Samples(string name, params (string Name, string Value)[] labels) =>
    [
        .. json.RootElement.EnumerateArray()
            .SelectMany(f => f.GetProperty("samples").EnumerateArray())
            .Select(s => new Sample(s.GetProperty("name").GetString()!, s.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), s.GetProperty("value").GetDouble()))
            .Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)),
    ];

    /// <summary>The one sample with these labels; fails when there is none or more than one.</summary>
    public double Value(string name, params (string Name, string Value)[] labels)
    {
        var matching = Samples(name, labels);
        Assert.True(matching.Count == 1, $"{matching.Count} samples of {name} with {string.Join(",", labels)}");
        return matching[0].Value;
    }
}
