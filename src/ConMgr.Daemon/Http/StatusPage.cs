// StatusPage.cs: the live status page's files (Http/StatusPage/), embedded in conmgr and served at / on http_port.
using System.Reflection;
using ConMgr.Http;

namespace ConMgr.Daemon.Http;

/// <summary>
/// The page is static: its script polls <c>/status</c> every 500 ms and draws it. Everything it
/// needs is in the binary (no CDN: it works without internet access), and the port's
/// Content-Security-Policy lets it load nothing from anywhere else.
/// </summary>
public static class StatusPage
{
    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/status.js", "status.js", "text/javascript; charset=utf-8"),
        ("/status.css", "status.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ];

    public static void Map(HttpPort port)
    {
        ArgumentNullException.ThrowIfNull(port);
        foreach (var (path, resource, contentType) in Files)
        {
            var answer = new HttpAnswer(200, contentType, Read(resource));
            port.Map(path, _ => answer);
        }
    }

    private static byte[] Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"StatusPage/{name}")
            ?? throw new InvalidOperationException($"the status page's {name} is not embedded in conmgr");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
