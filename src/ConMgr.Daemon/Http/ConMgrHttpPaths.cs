// ConMgrHttpPaths.cs: what conmgr's http_port answers on each path (docs/http.md has an example of each).
using System.Text.Json;
using ConMgr.Hosting.Control;
using ConMgr.Http;

namespace ConMgr.Daemon.Http;

/// <summary>
/// The second seed's paths, asked of conmgr's view of the cluster (<see cref="ClusterHealth"/>),
/// <c>/status</c> (what <c>cm_ctl status -i all</c> shows, as JSON), <c>/metrics</c> (mapped by
/// <see cref="HttpPort"/>) and the status page at <c>/</c>.
/// </summary>
public static class ConMgrHttpPaths
{
    public static void Map(HttpPort port, ClusterHealth health, Func<StatusReport> status)
    {
        ArgumentNullException.ThrowIfNull(port);
        ArgumentNullException.ThrowIfNull(health);

        // Answering at all is being alive.
        port.Map("/connection/is-live", _ => HttpAnswer.Boolean(true));
        port.Map("/connection/is-ready", _ => HttpAnswer.Boolean(health.IsReady));
        port.Map("/connection/is-ready-rw", _ => HttpAnswer.Boolean(health.Accepting && health.ReadWrite().Count > 0));
        port.Map("/connection/is-ready-ro", _ => HttpAnswer.Boolean(health.Accepting && health.ReadOnly().Count > 0));
        port.Map("/group/read-write-info", _ => HttpAnswer.Json(200, json => Write(json, health.ReadWrite())));
        port.Map("/group/read-only-info", _ => HttpAnswer.Json(200, json => Write(json, health.ReadOnly())));
        port.Map("/status", _ => HttpAnswer.Json(200, JsonSerializer.SerializeToUtf8Bytes(status(), ControlJsonContext.Default.StatusReport)));
        StatusPage.Map(port);
    }

    private static void Write(Utf8JsonWriter json, IReadOnlyList<RoutableInstance> instances)
    {
        json.WriteStartArray();
        foreach (var i in instances)
        {
            json.WriteStartObject();
            json.WriteNumber("number", i.Number);
            json.WriteString("host", i.Host);
            json.WriteNumber("port", i.Port);
            json.WriteString("role", i.Role);
            WriteNullable(json, "replay_lag_ms", i.ReplayLagMs);
            WriteNullable(json, "lag_bytes", i.LagBytes);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
