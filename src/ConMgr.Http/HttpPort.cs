// HttpPort.cs: an HTTP port on Kestrel (conmgr's http_port, the watchdog's watchdog.http_port): limits, GET/HEAD paths, /metrics.
using System.Net;
using System.Net.Sockets;
using ConMgr.Hosting.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace ConMgr.Http;

/// <summary>
/// Kestrel from the ASP.NET Core shared framework, driven directly (no WebApplication host), on
/// the process's <c>listen_addresses</c>. Paths are mapped before <see cref="StartAsync"/> and
/// only read after it. Paths answer GET and HEAD (HEAD: the same status and headers, no body); other methods get 405,
/// unknown paths 404. <c>/metrics</c> is the Prometheus text format of the given meters, through
/// OpenTelemetry's exporter (docs/http.md says why that one). No metric is collected unless the
/// port is on: without a listener the instruments are no-ops.
/// </summary>
public sealed class HttpPort : IAsyncDisposable
{
    /// <summary>Connections served at once; more wait in the kernel's backlog. Load balancers and scrapers need a handful.</summary>
    public const int MaxConnections = 256;

    /// <summary>Every request header together; a health check sends a few hundred bytes.</summary>
    public const int MaxRequestHeadersBytes = 16 * 1024;

    /// <summary>A client that has not sent its whole header in this time is closed.</summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(5);

    /// <summary>An idle keep-alive connection is closed after this.</summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(60);

    /// <summary>What every path answers.</summary>
    public static readonly string[] GetAndHead = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>Patroni answers OPTIONS like HEAD, and its HAProxy examples check with <c>option httpchk OPTIONS /primary</c>.</summary>
    public static readonly string[] GetHeadAndOptions = [HttpMethods.Get, HttpMethods.Head, HttpMethods.Options];

    private readonly ServiceProvider _services;
    private readonly KestrelServer _server;
    private readonly RequestDelegate _pipeline;
    private readonly Dictionary<string, (string[] Methods, Func<HttpRequest, HttpAnswer> Answer)> _paths = new(StringComparer.Ordinal);
    private readonly ServerLog _log;

    public HttpPort(IReadOnlyList<IPEndPoint> endpoints, ServerLog log, (string Name, string Version) service, params string[] meters)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        Endpoints = endpoints;
        _log = log;

        // Kestrel and one middleware, without the WebApplication host and routing: a dictionary
        // of paths is all the routing these ports need, and every type linked in costs memory in a
        // Native AOT binary even when the port is off (docs/http.md, "Memory").
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddOpenTelemetry().ConfigureResource(resource => resource.AddService(service.Name, serviceVersion: service.Version)).WithMetrics(metrics => metrics.AddMeter(meters).AddPrometheusExporter(prometheus =>
        {
            // Every scrape sees the values of that moment (the default caches answers for 300 ms).
            prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
        }));
        _services = services.BuildServiceProvider();
        var application = new ApplicationBuilder(_services);
        application.UseOpenTelemetryPrometheusScrapingEndpoint(_services.GetRequiredService<MeterProvider>(), predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
        application.Run(DispatchAsync);
        _pipeline = application.Build();

        var kestrel = new KestrelServerOptions { ApplicationServices = _services, AddServerHeader = false };
        foreach (var endpoint in endpoints)
        {
            kestrel.Listen(endpoint, listen => listen.Protocols = HttpProtocols.Http1);
        }

        kestrel.Limits.MaxConcurrentConnections = MaxConnections;
        kestrel.Limits.MaxRequestBodySize = 0;
        kestrel.Limits.MaxRequestHeadersTotalSize = MaxRequestHeadersBytes;
        kestrel.Limits.RequestHeadersTimeout = RequestHeadersTimeout;
        kestrel.Limits.KeepAliveTimeout = KeepAliveTimeout;
        _server = new KestrelServer(Options.Create(kestrel), new SocketTransportFactory(Options.Create(new SocketTransportOptions()), NullLoggerFactory.Instance), NullLoggerFactory.Instance);
    }

    public IReadOnlyList<IPEndPoint> Endpoints { get; }

    /// <summary>Answers <paramref name="methods"/> (default GET and HEAD) on <paramref name="path"/> with what <paramref name="answer"/> returns for the request.</summary>
    public void Map(string path, Func<HttpRequest, HttpAnswer> answer, string[]? methods = null) => _paths[path] = (methods ?? GetAndHead, answer);

    /// <summary>Binds every endpoint; an address in use is an <see cref="IOException"/>.</summary>
    public async Task StartAsync()
    {
        await _server.StartAsync(new Application(_pipeline), CancellationToken.None);
        foreach (var endpoint in Endpoints)
        {
            _log.Log($"HTTP port: listening on {(endpoint.Address.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} address \"{endpoint.Address}\", port {endpoint.Port}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _server.StopAsync(bound.Token);
        }
        finally
        {
            _server.Dispose();
            await _services.DisposeAsync();
        }
    }

    /// <summary>404 for an unknown path, 405 (with Allow) for a method the path does not answer.</summary>
    private Task DispatchAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        if (!_paths.TryGetValue(path, out var mapped))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        if (!mapped.Methods.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = string.Join(", ", mapped.Methods);
            return Task.CompletedTask;
        }

        return WriteAsync(context, Answer(path, mapped.Answer, context.Request));
    }

    /// <summary>A path that throws is a bug: logged as one (ASP.NET Core's own logging is off), answered 500.</summary>
    private HttpAnswer Answer(string path, Func<HttpRequest, HttpAnswer> answer, HttpRequest request)
    {
        try
        {
            return answer(request);
        }
        catch (Exception ex)
        {
            _log.Error($"BUG: HTTP port: answering {path}: {ex}");
            return new HttpAnswer(StatusCodes.Status500InternalServerError, "text/plain; charset=utf-8", "internal error\n"u8.ToArray());
        }
    }

    /// <summary>The one place a response is written: never cached, no body for HEAD and OPTIONS.</summary>
    private static Task WriteAsync(HttpContext context, HttpAnswer answer)
    {
        var response = context.Response;
        response.StatusCode = answer.Status;
        response.Headers.CacheControl = "no-store";

        // Nothing served here loads anything from elsewhere (the status page's files are all on this port).
        response.Headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'";
        response.Headers.XContentTypeOptions = "nosniff";
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            // The status alone, as Patroni answers OPTIONS: an empty body says so.
            response.ContentLength = 0;
            return Task.CompletedTask;
        }

        response.ContentType = answer.ContentType;
        response.ContentLength = answer.Body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(answer.Body).AsTask();
    }

    /// <summary>Kestrel's view of the pipeline: one <see cref="DefaultHttpContext"/> per request.</summary>
    private sealed class Application(RequestDelegate pipeline) : IHttpApplication<HttpContext>
    {
        public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

        public Task ProcessRequestAsync(HttpContext context) => pipeline(context);

        public void DisposeContext(HttpContext context, Exception? exception)
        {
        }
    }
}
