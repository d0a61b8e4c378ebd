// ProxyService.cs: routes a proxy port's client to an instance, connects, and hands the session to the relay.
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// The read-write port routes as the resolve protocol does for <c>read-write</c>; the read-only
/// port to a standby (least outstanding connections, as on the resolve port). An instance that
/// does not take the TCP connection within the port's connect timeout is skipped and the next
/// eligible one tried; with none left the client gets FATAL 08001 at once, never a hang.
/// </summary>
public sealed class ProxyService(InstanceTable instances, ApplicationRegistry registry, Router router, SessionGuard guard, CancelKeys keys, ConMgrSettings settings, ServerLog log)
{
    public async Task ServeAsync(ApplicationConnection connection, ProxyPort port, StartupMessage startup)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        connection.Port = port.Name();
        connection.Target = port.Name();
        connection.TargetAttrs = port.Target();
        if (IsReplication(startup.GetParameter("replication")))
        {
            log.Log($"refusing replication connection from {connection.Describe()} on the {port.Name()} port");
            await connection.CloseWithErrorAsync(ClientErrors.ReplicationRefused(port.Name()), ApplicationHandler.ErrorSendTimeout);
            return;
        }

        var failures = new List<string>();
        var skip = new HashSet<int>();
        while (true)
        {
            var route = router.Choose(instances.Rows(), connection.TargetAttrs, skip);
            if (route.Instance is not { } instance)
            {
                var error = failures.Count > 0
                    ? ClientErrors.BackendUnreachable(port.Name(), string.Join("; ", failures))
                    : ClientErrors.NoInstanceForPort(port.Name(), PortNumber(port), route.Refusal!);
                log.Log($"refusing {connection.Describe()} on the {port.Name()} port: {error.Message}{(error.Detail is null ? string.Empty : $" ({error.Detail})")}");
                await connection.CloseWithErrorAsync(error, ApplicationHandler.ErrorSendTimeout);
                return;
            }

            connection.State = ApplicationState.Connecting;
            var (socket, connectError) = await BackendConnector.ConnectAsync(instance.Settings, ConnectTimeout(port));
            if (socket is null)
            {
                log.Log($"{port.Name()} port: instance {instance.Settings.Number}: {connectError}");
                failures.Add($"instance {instance.Settings.Number}: {connectError}");
                skip.Add(route.Index);
                continue;
            }

            connection.InstanceVersion = instance.Version;
            registry.Assign(connection, route.Index);
            connection.Instance = $"{instance.Settings.Address}:{instance.Settings.Port}";
            using var session = new ProxySession(connection, socket, instance.Settings, keys, log);
            connection.Relay = session;
            connection.State = ApplicationState.Proxying;
            if (log.IsEnabled(MessageLevel.Debug))
            {
                log.Debug($"proxying {connection.Describe()} ({port.Name()} port) to instance {instance.Settings.Number} ({connection.Instance})");
            }

            // The instance may have been lost while conmgr connected: check once, then rely on change events.
            guard.CheckNow(connection);
            await session.RunAsync(startup.ToArray());
            if (log.IsEnabled(MessageLevel.Debug))
            {
                log.Debug($"proxied session of {connection.Describe()} on instance {instance.Settings.Number} ended: {session.EndReason}");
            }

            return;
        }
    }

    /// <summary>PostgreSQL's reading of the replication parameter: a boolean, or "database" for logical replication.</summary>
    private static bool IsReplication(string? value) =>
        value is not null && value.Trim().ToLowerInvariant() is not ("false" or "off" or "no" or "0" or "f" or "n" or "of");

    private int PortNumber(ProxyPort port) => port == ProxyPort.ReadWrite ? settings.ReadWritePort : settings.ReadOnlyPort;

    private TimeSpan ConnectTimeout(ProxyPort port) => port == ProxyPort.ReadWrite ? settings.ReadWriteConnectTimeout : settings.ReadOnlyConnectTimeout;
}
