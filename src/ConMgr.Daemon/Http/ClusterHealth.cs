// ClusterHealth.cs: what the HTTP health paths answer: can a port route now, and to which instances.
using ConMgr.Protocol.Postgres;
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Proxy;
using ConMgr.Daemon.Routing;

namespace ConMgr.Daemon.Http;

/// <summary>An instance a port would route to, as the group paths list it.</summary>
/// <param name="ReplayLagMs">The standby's replay delay (its watchdog's measure); null on a primary or when unknown.</param>
/// <param name="LagBytes">WAL the standby has still to replay (docs/configuration.md, "max_standby_lag"); null on a primary or when unknown.</param>
public readonly record struct RoutableInstance(int Number, string Host, int Port, string Role, double? ReplayLagMs, long? LagBytes);

/// <summary>
/// The second seed's health questions asked of conmgr's view of the cluster, with the routing
/// rules the ports use (<see cref="Router"/>: split brain and max_standby_lag included): the
/// read-write port's candidates are the read-write primaries; the read-only port's are the
/// standbys or, with none and <c>read_only_fallback = primary</c>, the primaries that keep
/// sessions read-only.
/// </summary>
public sealed class ClusterHealth(InstanceTable instances, Router router, ConMgrSettings settings, Func<bool> accepting)
{
    /// <summary>conmgr accepts connections: started, not shutting down. Every health path but is-live is false otherwise.</summary>
    public bool Accepting => accepting();

    /// <summary>conmgr accepts connections and at least one port can route.</summary>
    public bool IsReady => Accepting && (ReadWrite().Count > 0 || ReadOnly().Count > 0);

    public IReadOnlyList<RoutableInstance> ReadWrite()
    {
        var rows = instances.Rows();
        return Describe(rows, router.Candidates(rows, TargetSessionAttrs.ReadWrite));
    }

    public IReadOnlyList<RoutableInstance> ReadOnly()
    {
        var rows = instances.Rows();
        var standbys = router.Candidates(rows, ProxyPort.ReadOnly.Target());
        if (standbys.Count > 0 || settings.ReadOnlyFallback != ReadOnlyFallback.Primary)
        {
            return Describe(rows, standbys);
        }

        return Describe(rows, [.. router.Candidates(rows, TargetSessionAttrs.Primary).Where(c => c.Row.Attributes.ReadOnlySessions)]);
    }

    private static RoutableInstance[] Describe(IReadOnlyList<InstanceState> rows, IReadOnlyList<IndexedRow> chosen)
    {
        var view = ClusterView.Of(rows);
        return [.. chosen.Select(r => new RoutableInstance(
            r.Row.Settings.Number,
            r.Row.Settings.Address,
            r.Row.Settings.Port,
            r.Row.Attributes.InRecovery ? "standby" : "primary",
            ClusterView.ReplayLag(r.Row)?.TotalMilliseconds,
            view.LagBytesOf(r.Row)))];
    }
}
