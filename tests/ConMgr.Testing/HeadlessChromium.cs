// HeadlessChromium.cs: a real browser (Debian's chromium, headless) driven over the DevTools protocol: load a page, read its console errors, evaluate, take a screenshot.
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ConMgr.Testing;

/// <summary>
/// One headless Chromium with one page, spoken to over the Chrome DevTools Protocol on a local
/// WebSocket (no driver to install). Console errors, uncaught exceptions and the browser's own
/// error log entries (a failed load, a blocked resource) are collected in <see cref="Errors"/>.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly BackgroundProcess _browser;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode?>> _pending = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _reader = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(BackgroundProcess browser, string profile)
    {
        _browser = browser;
        _profile = profile;
    }

    /// <summary>Console errors, uncaught exceptions and error log entries, in order.</summary>
    public IReadOnlyList<string> Errors => [.. _errors];

    public static async Task<HeadlessChromium> StartAsync(string workDirectory)
    {
        var profile = Path.Combine(workDirectory, $"chromium-{Guid.NewGuid():N}");
        Directory.CreateDirectory(profile);
        var browser = BackgroundProcess.Start(
            "chromium",
            ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", $"--user-data-dir={profile}", "about:blank"],
            RunAs.Self,
            Path.Combine(workDirectory, "chromium.log"));
        var chromium = new HeadlessChromium(browser, profile);
        try
        {
            await chromium.ConnectAsync();
            return chromium;
        }
        catch
        {
            await chromium.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sets the viewport: a phone (390 × 844, mobile) or a wall screen (1920 × 1080).</summary>
    public Task SetViewportAsync(int width, int height, bool mobile) =>
        SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = mobile });

    public Task NavigateAsync(string url) => SendAsync("Page.navigate", new JsonObject { ["url"] = url });

    /// <summary>The value of <paramref name="expression"/> in the page, as JSON; an exception in it is an error here.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true });
        return result?["exceptionDetails"] is { } exception
            ? throw new InvalidOperationException($"{expression}: {exception.ToJsonString()}")
            : result?["result"]?["value"];
    }

    public async Task SaveScreenshotAsync(string path)
    {
        var result = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" });
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(result!["data"]!.GetValue<string>()));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Abort();
        _socket.Dispose();

        // Chromium ends its helper processes itself on SIGTERM; whatever is left after that is killed.
        var tree = ProcessTree.Of(_browser.Pid);
        _browser.Signal(Hosting.Posix.Libc.SIGTERM);
        try
        {
            await _browser.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
        }

        foreach (var pid in tree.Where(Hosting.Posix.Libc.IsAlive))
        {
            Hosting.Posix.Libc.Kill(pid, Hosting.Posix.Libc.SIGKILL);
        }

        await _browser.DisposeAsync();
        try
        {
            await _reader;
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium's helpers may still be writing as they exit; the test directory goes with the test.
        }
    }

    private async Task ConnectAsync()
    {
        // Chromium writes the port it chose into its profile directory.
        var portFile = Path.Combine(_profile, "DevToolsActivePort");
        await Poll.UntilAsync(() => File.Exists(portFile) && File.ReadAllLines(portFile).Length >= 2, TimeSpan.FromSeconds(30), "Chromium's DevTools port: " + _browser.Log);
        var port = int.Parse(File.ReadAllLines(portFile)[0], CultureInfo.InvariantCulture);
        using var http = new HttpClient();
        var targets = JsonNode.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/json/list")))!.AsArray();
        var page = targets.First(t => t!["type"]!.GetValue<string>() == "page")!;
        await _socket.ConnectAsync(new Uri(page["webSocketDebuggerUrl"]!.GetValue<string>()), CancellationToken.None);
        _reader = ReadAsync();
        await SendAsync("Runtime.enable");
        await SendAsync("Log.enable");
        await SendAsync("Page.enable");
    }

    private async Task<JsonNode?> SendAsync(string method, JsonObject? parameters = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? [] };
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        return await answer.Task.WaitAsync(CommandTimeout);
    }

    /// <summary>Answers go to their commands; console and log events are kept.</summary>
    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (!_stop.IsCancellationRequested)
        {
            var received = await _socket.ReceiveAsync(buffer, _stop.Token);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            message.Write(buffer, 0, received.Count);
            if (!received.EndOfMessage)
            {
                continue;
            }

            var node = JsonNode.Parse(message.ToArray());
            message.SetLength(0);
            if (node?["id"] is { } id && _pending.TryRemove(id.GetValue<int>(), out var waiting))
            {
                if (node["error"] is { } error)
                {
                    waiting.SetException(new InvalidOperationException(error.ToJsonString()));
                }
                else
                {
                    waiting.SetResult(node["result"]);
                }

                continue;
            }

            var parameters = node?["params"];
            var method = node?["method"]?.GetValue<string>();
            if (method == "Runtime.consoleAPICalled" && parameters?["type"]?.GetValue<string>() is "error" or "assert")
            {
                _errors.Enqueue("console: " + parameters?["args"]?.ToJsonString());
            }
            else if (method == "Runtime.exceptionThrown")
            {
                _errors.Enqueue("exception: " + parameters?["exceptionDetails"]?.ToJsonString());
            }
            else if (method == "Log.entryAdded" && parameters?["entry"]?["level"]?.GetValue<string>() == "error")
            {
                _errors.Enqueue("log: " + parameters?["entry"]?.ToJsonString());
            }
        }
    }
}
