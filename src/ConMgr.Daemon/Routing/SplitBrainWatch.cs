// SplitBrainWatch.cs: notices when two instances claim to be primary, or one belongs to another cluster, and says so once.
using ConMgr.Daemon.Instances;
using ConMgr.Hosting.Logging;

namespace ConMgr.Daemon.Routing;

/// <summary>
/// Logs when the set of primaries with a live heartbeat grows beyond one, naming the instance on
/// the newest timeline (the only one <see cref="Router"/> sends writes to) and the stale ones it
/// skips, and again when the split ends. That is LOG, not WARNING: in PostgreSQL's order LOG
/// outranks WARNING, so an operator running with log_min_messages = log still sees it, and
/// writes still flow. Two primaries on the same timeline stop writes altogether, so that is a
/// WARNING (and at LOG level too, as LOG is shown whenever WARNING is). A foreign instance
/// (another cluster's system identifier) is logged once per appearance.
/// </summary>
public sealed class SplitBrainWatch(ServerLog log)
{
    private readonly Lock _gate = new();
    private string? _current;
    private string? _foreign;

    public void Check(ClusterView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        lock (_gate)
        {
            var state = Describe(view);
            if (state != _current)
            {
                if (view.Contested.Count > 1)
                {
                    log.Warning(state!);
                }
                else
                {
                    log.Log(state ?? "split brain over: at most one instance claims to be primary");
                }

                _current = state;
            }

            var foreign = view.Foreign.Count == 0 ? null : string.Join("; ", view.Foreign.Select(f => $"{Name(f.Row)}: {view.ExclusionOf(f.Index)}"));
            if (foreign != _foreign && foreign is not null)
            {
                log.Warning($"instance of another cluster: {foreign}");
            }

            _foreign = foreign;
        }
    }

    private static string? Describe(ClusterView view)
    {
        if (view.Contested.Count > 1)
        {
            return $"split brain: instances {string.Join(" and ", view.Contested.Select(c => Name(c.Row)))} are all primaries on timeline {view.NewestPrimaryTimeline}; no read-write connection is handed out until only one is left";
        }

        var claimants = view.Primaries.Count + view.Stale.Count;
        if (claimants <= 1)
        {
            return null;
        }

        var winners = view.Primaries.Select(p => Name(p.Row));
        var stale = view.Stale.Select(p => $"{Name(p.Row)} on timeline {p.Row.Attributes.Timeline}");
        return $"split brain: {claimants} instances claim to be primary; writes go only to {string.Join(", ", winners)} (newest timeline {view.NewestPrimaryTimeline}); skipping {string.Join(", ", stale)}";
    }

    private static string Name(InstanceState row) => $"instance {row.Settings.Number} ({row.Settings.Address}:{row.Settings.Port})";
}
