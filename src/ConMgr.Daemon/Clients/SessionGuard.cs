// SessionGuard.cs: tells every routed client, resolved or proxied, when its instance stops serving it.
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Clients;

/// <summary>
/// Runs on every routing-relevant instance change, in order (and once right after a client is
/// routed, in case its instance changed meanwhile). A client whose instance lost its heartbeat,
/// or no longer has the role its target or port asks for, is closed with a FATAL 57P01 through
/// <see cref="ApplicationConnection.CloseWithErrorAsync"/>: on the resolve port that is the loss
/// report; on a proxy port it cuts the relayed session between two server messages.
/// </summary>
public sealed class SessionGuard(InstanceTable instances, ApplicationRegistry registry, ServerLog log)
{
    public void OnInstancesChanged(IReadOnlyList<InstanceState> rows, ClusterView view)
    {
        foreach (var connection in registry.Snapshot())
        {
            if (connection.State is ApplicationState.Monitoring or ApplicationState.Proxying)
            {
                Check(connection, rows, view);
            }
        }
    }

    /// <summary>Checks one client against the table as it is now.</summary>
    public void CheckNow(ApplicationConnection connection)
    {
        var rows = instances.Rows();
        Check(connection, rows, ClusterView.Of(rows));
    }

    private void Check(ApplicationConnection connection, IReadOnlyList<InstanceState> rows, ClusterView view)
    {
        var index = connection.InstanceIndex;
        if (index < 0 || rows[index].Version < connection.InstanceVersion || Router.StillMatches(view, index, connection.TargetAttrs))
        {
            // An older snapshot than the one this client was routed on says nothing about it.
            return;
        }

        var row = rows[index];
        var name = $"instance {row.Settings.Number} ({row.Settings.Address}:{row.Settings.Port})";
        var requirement = connection.Port is { } port ? $"conmgr's {port} port" : $"target_session_attrs={connection.Target}";
        var lost = !row.Routable;
        if (connection.Relay is IReroutable reroutable && reroutable.TryReroute())
        {
            // Between transactions with nothing on its server: no error is owed; its next transaction is routed again.
            log.Log($"{connection.Describe()} is between transactions: its next transaction is routed again ({name} {(lost ? "is lost" : "no longer serves " + requirement)})");
            registry.Unassign(connection);
            return;
        }

        var error = lost
            ? ClientErrors.InstanceLost(name, row.LastError ?? "its watchdog cannot reach it")
            : ClientErrors.RoleChanged(name, requirement, view.RoleOf(index, row));
        log.Log(lost
            ? $"telling {connection.Describe()} that {name} is lost"
            : $"telling {connection.Describe()} that {name} no longer serves {requirement}");
        _ = connection.CloseWithErrorAsync(error, ApplicationHandler.ErrorSendTimeout);
    }
}
