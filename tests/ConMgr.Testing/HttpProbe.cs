// HttpProbe.cs: asks an HTTP port a path: from this process, or with curl from inside a network namespace.
using System.Globalization;
using System.Net;

namespace ConMgr.Testing;

/// <summary>One HTTP answer: status code, body, content type.</summary>
public sealed record HttpResult(int Status, string Body, string? ContentType = null);

/// <summary>GET and HEAD against 127.0.0.1 (or a namespace's loopback, through curl), no keep-alive between tests.</summary>
public static class HttpProbe
{
    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<HttpResult> GetAsync(int port, string path, string method = "GET")
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}{path}");
        using var response = await Client.SendAsync(request);
        return new HttpResult((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.ToString());
    }

    /// <summary>GET with curl run as <paramref name="runAs"/> (e.g. inside the client namespace of a <see cref="NetworkLink"/>).</summary>
    public static async Task<HttpResult> CurlAsync(RunAs runAs, int port, string path)
    {
        var result = await ProcessRunner.RunAsync("curl", ["-s", "--max-time", "5", "-w", "\n%{http_code}", $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}{path}"], runAs, TimeSpan.FromSeconds(10));
        var output = result.StandardOutput;
        var split = output.LastIndexOf('\n');
        return result.ExitCode != 0 || split < 0
            ? throw new HttpRequestException($"curl {path} failed ({result.ExitCode}): {result.Output}")
            : new HttpResult(int.Parse(output[(split + 1)..], CultureInfo.InvariantCulture), output[..split]);
    }

    /// <summary>The instance numbers a group path (<c>/group/read-write-info</c>, <c>/group/read-only-info</c>) lists.</summary>
    public static async Task<int[]> GroupNumbersAsync(int port, string path)
    {
        using var json = System.Text.Json.JsonDocument.Parse((await GetAsync(port, path)).Body);
        return [.. json.RootElement.EnumerateArray().Select(e => e.GetProperty("number").GetInt32())];
    }

    /// <summary>True when the answer is the second seed's boolean: 200 "true" or 503 "false" (and which).</summary>
    public static bool IsUp(HttpResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result switch
        {
            { Status: (int)HttpStatusCode.OK, Body: "true" } => true,
            { Status: (int)HttpStatusCode.ServiceUnavailable, Body: "false" } => false,
            _ => throw new InvalidDataException($"not a health answer: {result.Status} \"{result.Body}\""),
        };
    }
}
