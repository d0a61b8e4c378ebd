// StatusPageTests.cs: the status page in headless Chromium: no console errors, both instances shown, a promotion shown within 2 s; screenshots for a person to look at.
using System.Diagnostics;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Xunit.Abstractions;

namespace ConMgr.IntegrationTests.Http;

[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class StatusPageTests(ITestOutputHelper output)
{
    /// <summary>Screenshots go beside the test assembly: tests/ConMgr.IntegrationTests/bin/Release/net10.0/screenshots/.</summary>
    public static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private const string Roles = "[...document.querySelectorAll('[data-instance]')].map(e => e.dataset.instance + ':' + e.dataset.role + ':' + e.dataset.heartbeat).join(' ')";

    [Fact]
    public async Task The_status_page_shows_both_instances_with_no_console_error_and_a_promotion_within_two_seconds()
    {
        var http = FreePort.Next();
        var (t, _, _) = await ProxyCluster.StartAsync(1, $"http_port = {http}\n");
        await using var __ = t;
        var (primary, standby) = (t.Cluster.Primary, t.Cluster.Standbys[0]);
        await using var browser = await HeadlessChromium.StartAsync(t.Cluster.Directory);

        await browser.SetViewportAsync(390, 844, mobile: true);
        await browser.NavigateAsync($"http://127.0.0.1:{http}/");
        await Poll.UntilAsync(async () => (await browser.EvaluateAsync(Roles))?.GetValue<string>() == "0:primary:up 1:standby:up", TransparentCluster.Deadline, "both instances on the page");
        Assert.Equal("ready", (await browser.EvaluateAsync("document.getElementById('state').textContent"))?.GetValue<string>());
        Assert.Equal(2, (await browser.EvaluateAsync("document.querySelectorAll('svg.rtt polyline').length"))?.GetValue<int>());
        await SaveAsync(browser, "status-page-phone.png");

        // The primary stops and the standby is promoted: the page shows it within 2 s of the promotion.
        await primary.StopAsync();
        await Poll.UntilAsync(async () => (await browser.EvaluateAsync("document.getElementById('alert').hidden"))?.GetValue<bool>() == false, TransparentCluster.Deadline, "the no-primary alert");
        await standby.PromoteAsync();
        var watch = Stopwatch.StartNew();
        await Poll.UntilAsync(async () => (await browser.EvaluateAsync(Roles))?.GetValue<string>().Contains("1:primary:up", StringComparison.Ordinal) == true, TransparentCluster.Deadline, "the promotion on the page");
        var shown = watch.Elapsed;
        output.WriteLine($"promotion shown {shown.TotalMilliseconds:0} ms after pg_promote returned");
        Assert.True(shown <= TimeSpan.FromSeconds(2), $"the promotion took {shown.TotalMilliseconds:0} ms to show");

        await browser.SetViewportAsync(1920, 1080, mobile: false);
        await SaveAsync(browser, "status-page-wall.png");
        Assert.Empty(browser.Errors);
    }

    private async Task SaveAsync(HeadlessChromium browser, string name)
    {
        var path = Path.Combine(Screenshots, name);
        await browser.SaveScreenshotAsync(path);
        output.WriteLine($"screenshot: {path}");
    }
}
