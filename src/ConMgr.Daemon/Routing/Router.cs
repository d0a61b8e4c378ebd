// Router.cs: picks the instance for a target_session_attrs among those with a live heartbeat: split-brain safe, load balanced.
using ConMgr.Daemon.Instances;

namespace ConMgr.Daemon.Routing;

/// <summary>The router's decision: an instance, or why there is none.</summary>
public readonly record struct RouteResult(InstanceState? Instance, string? Refusal);

/// <summary>
/// Eligible = heartbeat up and the watchdog reaching its instance. Split brain: when several
/// instances claim to be primary, only those on the newest timeline count as primaries; the
/// others (a demoted primary nobody fenced) are skipped for every target. Among the eligible,
/// the one with the fewest outstanding application connections wins; ties go round-robin.
/// </summary>
public sealed class Router(Func<int, int> outstanding)
{
    private int _cursor;

    public RouteResult Choose(IReadOnlyList<InstanceState> rows, TargetSessionAttrs target)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var view = ClusterView.Of(rows);
        var candidates = Candidates(view, target);
        if (candidates.Count == 0)
        {
            return new RouteResult(null, Explain(rows, view, target));
        }

        // Least outstanding connections; among equals, rotate so equal load spreads evenly.
        var least = candidates.Min(c => outstanding(c.Index));
        var tied = candidates.Where(c => outstanding(c.Index) == least).ToList();
        var pick = tied[(int)((uint)Interlocked.Increment(ref _cursor) % (uint)tied.Count)];
        return new RouteResult(pick.Row, null);
    }

    /// <summary>True when <paramref name="row"/> still serves <paramref name="target"/> (for strict targets, its role must still match).</summary>
    public static bool StillMatches(IReadOnlyList<InstanceState> rows, int index, TargetSessionAttrs target)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var view = ClusterView.Of(rows);
        return view.Eligible.Any(e => e.Index == index)
            && target switch
            {
                TargetSessionAttrs.Any or TargetSessionAttrs.PreferStandby or TargetSessionAttrs.PreferPrimary => true,
                _ => Candidates(view, target).Any(c => c.Index == index),
            };
    }

    private static List<(int Index, InstanceState Row)> Candidates(ClusterView view, TargetSessionAttrs target) => target switch
    {
        TargetSessionAttrs.ReadWrite => [.. view.Primaries.Where(p => !p.Row.Attributes.DefaultTransactionReadOnly)],
        TargetSessionAttrs.Primary => [.. view.Primaries],
        TargetSessionAttrs.ReadOnly => [.. view.Eligible.Where(e => e.Row.Attributes.InRecovery || e.Row.Attributes.DefaultTransactionReadOnly)],
        TargetSessionAttrs.Standby => [.. view.Standbys],
        TargetSessionAttrs.PreferStandby => view.Standbys.Count > 0 ? [.. view.Standbys] : [.. view.Eligible],
        TargetSessionAttrs.PreferPrimary => view.Primaries.Count > 0 ? [.. view.Primaries] : [.. view.Eligible],
        _ => [.. view.Eligible],
    };

    private static string Explain(IReadOnlyList<InstanceState> rows, ClusterView view, TargetSessionAttrs target)
    {
        var what = rows.Select((row, i) =>
            $"instance {row.Settings.Number} ({row.Settings.Address}:{row.Settings.Port}) is {Describe(row, view.Stale.Any(s => s.Index == i))}");
        var list = rows.Count == 0 ? "no instance is configured" : string.Join("; ", what);
        return $"no instance matches target_session_attrs={target.Name()}: {list}";
    }

    private static string Describe(InstanceState row, bool stale) => row.Link switch
    {
        LinkState.Up when !row.Attributes.Available => "unavailable (its watchdog cannot reach it)",
        LinkState.Up when stale => $"a primary on old timeline {row.Attributes.Timeline} (split brain; skipped)",
        LinkState.Up => $"{row.Attributes.Role}{(row.Attributes.DefaultTransactionReadOnly ? " with default_transaction_read_only on" : string.Empty)}",
        _ => $"down ({row.LastError ?? "no heartbeat yet"})",
    };

    /// <summary>The rows sorted into what routing needs, with split-brain resolution applied.</summary>
    private sealed record ClusterView(
        List<(int Index, InstanceState Row)> Eligible,
        List<(int Index, InstanceState Row)> Primaries,
        List<(int Index, InstanceState Row)> Standbys,
        List<(int Index, InstanceState Row)> Stale)
    {
        public static ClusterView Of(IReadOnlyList<InstanceState> rows)
        {
            var up = rows.Select((row, index) => (Index: index, Row: row))
                .Where(r => r.Row.Link == LinkState.Up && r.Row.Attributes.Available)
                .ToList();
            var claimants = up.Where(r => !r.Row.Attributes.InRecovery).ToList();
            var newest = claimants.Count == 0 ? 0 : claimants.Max(c => c.Row.Attributes.Timeline);
            var stale = claimants.Where(c => c.Row.Attributes.Timeline < newest).ToList();
            var eligible = up.Where(r => !stale.Contains(r)).ToList();
            return new ClusterView(
                eligible,
                [.. eligible.Where(r => !r.Row.Attributes.InRecovery)],
                [.. eligible.Where(r => r.Row.Attributes.InRecovery)],
                stale);
        }
    }
}
