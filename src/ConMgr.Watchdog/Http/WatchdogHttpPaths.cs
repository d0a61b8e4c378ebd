// WatchdogHttpPaths.cs: what watchdog.http_port answers: Patroni's health paths for the watchdog's instance, and /metrics.
using ConMgr.Http;

namespace ConMgr.Watchdog.Http;

/// <summary>Maps <see cref="PatroniHealth"/>'s paths onto the port (GET, HEAD and OPTIONS, as Patroni); <c>/metrics</c> is mapped by <see cref="HttpPort"/>.</summary>
public static class WatchdogHttpPaths
{
    public static readonly string[] Paths = ["/primary", "/master", "/leader", "/read-write", "/replica", "/read-only", "/health", "/liveness", "/readiness"];

    public static void Map(HttpPort port, Func<HealthSnapshot> snapshot)
    {
        ArgumentNullException.ThrowIfNull(port);
        foreach (var path in Paths)
        {
            port.Map(path, request => PatroniHealth.Answer(
                path,
                snapshot(),
                request.Query.ToDictionary(q => q.Key, q => (string?)q.Value.ToString(), StringComparer.Ordinal)),
                HttpPort.GetHeadAndOptions);
        }
    }
}
