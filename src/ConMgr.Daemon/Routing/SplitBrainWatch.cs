// SplitBrainWatch.cs: notices when two instances claim to be primary and says, once, which one writes go to.
using ConMgr.Daemon.Instances;
using ConMgr.Hosting.Logging;

namespace ConMgr.Daemon.Routing;

/// <summary>
/// Logs when the set of primaries with a live heartbeat grows beyond one, naming the instance on
/// the newest timeline (the only one <see cref="Router"/> sends writes to) and the stale ones it
/// skips, and again when the split ends. LOG, not WARNING: in PostgreSQL's order LOG outranks
/// WARNING, so an operator running with log_min_messages = log still sees it.
/// </summary>
public sealed class SplitBrainWatch(ServerLog log)
{
    private readonly Lock _gate = new();
    private string? _current;

    public void Check(ClusterView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        string? state = null;
        var claimants = view.Primaries.Count + view.Stale.Count;
        if (claimants > 1)
        {
            var winners = view.Primaries.Select(p => Name(p.Row));
            var stale = view.Stale.Select(p => $"{Name(p.Row)} on timeline {p.Row.Attributes.Timeline}");
            state = $"split brain: {claimants} instances claim to be primary; writes go only to {string.Join(", ", winners)} (newest timeline {view.NewestPrimaryTimeline}); skipping {string.Join(", ", stale)}";
        }

        lock (_gate)
        {
            if (state == _current)
            {
                return;
            }

            log.Log(state ?? "split brain over: at most one instance claims to be primary");

            _current = state;
        }
    }

    private static string Name(InstanceState row) => $"instance {row.Settings.Number} ({row.Settings.Address}:{row.Settings.Port})";
}
