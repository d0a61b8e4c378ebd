// Router.cs: picks the instance for a target_session_attrs among those with a live heartbeat: split-brain safe, load balanced.
using ConMgr.Protocol.Postgres;
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;

namespace ConMgr.Daemon.Routing;

/// <summary>The router's decision: an instance, its index in the table and how many were eligible; or why there is none.</summary>
public readonly record struct RouteResult(int Index, InstanceState? Instance, string? Refusal, int Candidates = 0);

/// <summary>
/// Chooses among <see cref="ClusterView"/>'s eligible instances (split brain already resolved
/// there: stale primaries are skipped for every target). The one with the fewest outstanding
/// application connections wins; ties go round-robin. Standbys beyond <paramref name="maxStandbyLag"/>
/// take no read-only target; with no standby left, <c>prefer-standby</c> falls back to the primary
/// only when <paramref name="fallback"/> (read_only_fallback) says so. Lag never ends a session
/// already routed: <see cref="StillMatches"/> does not look at it.
/// </summary>
public sealed class Router(Func<int, int> outstanding, StandbyLagLimit maxStandbyLag = default, ReadOnlyFallback fallback = ReadOnlyFallback.Primary)
{
    private int _cursor;

    /// <param name="skip">Instances not to choose (a proxy port's instances that just refused a connection).</param>
    /// <param name="only">The one instance (its number, backend_hostN) a pinned resolve request asks about; null for a free choice.</param>
    public RouteResult Choose(IReadOnlyList<InstanceState> rows, TargetSessionAttrs target, IReadOnlySet<int>? skip = null, int? only = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var view = ClusterView.Of(rows, maxStandbyLag);
        var candidates = Candidates(view, target, fallback);
        if (skip is { Count: > 0 })
        {
            candidates.RemoveAll(c => skip.Contains(c.Index));
        }

        if (only is { } number)
        {
            // The candidate count stays the whole target's: the client's forecast needs it, not 1.
            var eligible = candidates.Count;
            var pinned = candidates.FirstOrDefault(c => c.Row.Settings.Number == number);
            return pinned.Row is null
                ? new RouteResult(-1, null, $"instance {number} is not eligible: {Explain(rows, view, target)}")
                : new RouteResult(pinned.Index, pinned.Row, null, eligible);
        }

        if (candidates.Count == 0)
        {
            return new RouteResult(-1, null, Explain(rows, view, target));
        }

        // Least outstanding connections; among equals, rotate so equal load spreads evenly. The
        // counts change under our feet (other connections come and go): read each once, or the
        // minimum of one reading may match nobody in the next.
        var load = candidates.Select(c => (Candidate: c, Outstanding: outstanding(c.Index))).ToList();
        var least = load.Min(l => l.Outstanding);
        var tied = load.Where(l => l.Outstanding == least).Select(l => l.Candidate).ToList();
        var pick = tied[(int)((uint)Interlocked.Increment(ref _cursor) % (uint)tied.Count)];
        return new RouteResult(pick.Index, pick.Row, null, candidates.Count);
    }

    /// <summary>True when instance <paramref name="index"/> still serves <paramref name="target"/> (for strict targets, its role must still match).</summary>
    public static bool StillMatches(ClusterView view, int index, TargetSessionAttrs target)
    {
        ArgumentNullException.ThrowIfNull(view);
        return view.IsEligible(index)
            && target switch
            {
                TargetSessionAttrs.Any or TargetSessionAttrs.PreferStandby or TargetSessionAttrs.PreferPrimary => true,
                _ => Candidates(view, target, ReadOnlyFallback.Primary).Any(c => c.Index == index),
            };
    }

    /// <summary>Every instance <see cref="Choose"/> could pick for <paramref name="target"/> now (the HTTP group paths list them).</summary>
    public IReadOnlyList<IndexedRow> Candidates(IReadOnlyList<InstanceState> rows, TargetSessionAttrs target) => Candidates(ClusterView.Of(rows, maxStandbyLag), target, fallback);

    private static List<IndexedRow> Candidates(ClusterView view, TargetSessionAttrs target, ReadOnlyFallback fallback) => target switch
    {
        TargetSessionAttrs.ReadWrite => [.. view.Primaries.Where(p => !p.Row.Attributes.DefaultTransactionReadOnly)],
        TargetSessionAttrs.Primary => [.. view.Primaries],
        TargetSessionAttrs.ReadOnly => [.. view.Eligible.Where(e => e.Row.Attributes.InRecovery || e.Row.Attributes.DefaultTransactionReadOnly).Except(view.Lagging)],
        TargetSessionAttrs.Standby => [.. view.Standbys],
        TargetSessionAttrs.PreferStandby => view.Standbys.Count > 0 ? [.. view.Standbys]
            : fallback == ReadOnlyFallback.Primary ? [.. view.Eligible.Except(view.Lagging)]
            : [],
        TargetSessionAttrs.PreferPrimary => view.Primaries.Count > 0 ? [.. view.Primaries] : [.. view.Eligible],
        _ => [.. view.Eligible],
    };

    private static string Explain(IReadOnlyList<InstanceState> rows, ClusterView view, TargetSessionAttrs target)
    {
        var what = rows.Select((row, i) =>
            $"instance {row.Settings.Number} ({row.Settings.Address}:{row.Settings.Port}) is {Describe(row, view.ExclusionOf(i))}");
        var list = rows.Count == 0 ? "no instance is configured" : string.Join("; ", what);
        return $"no instance matches target_session_attrs={target.Name()}: {list}";
    }

    private static string Describe(InstanceState row, string? exclusion) => row.Link switch
    {
        LinkState.Up or LinkState.Interrupted when !row.Attributes.Available => "unavailable (its watchdog cannot reach it)",
        LinkState.Up or LinkState.Interrupted when exclusion is not null => $"a {row.Attributes.Role} set aside: {exclusion}",
        LinkState.Up or LinkState.Interrupted => $"{row.Attributes.Role}{(row.Attributes.DefaultTransactionReadOnly ? " with default_transaction_read_only on" : string.Empty)}",
        _ => $"down ({row.LastError ?? "no heartbeat yet"})",
    };
}
