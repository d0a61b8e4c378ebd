// ClusterView.cs: the instance table sorted into what routing, status and the split-brain log need, split brain resolved once.
namespace ConMgr.Daemon.Instances;

/// <summary>An instance-table row with its index.</summary>
public readonly record struct IndexedRow(int Index, InstanceState Row);

/// <summary>
/// Eligible = heartbeat up and the watchdog reaching its instance. When several eligible
/// instances claim to be primary, only those on the newest timeline count as primaries; the
/// others are <see cref="Stale"/> (a demoted primary nobody fenced) and are not eligible at all.
/// The one place that decides this: the router, the status table and the split-brain log agree.
/// </summary>
public sealed record ClusterView(
    IReadOnlyList<IndexedRow> Eligible,
    IReadOnlyList<IndexedRow> Primaries,
    IReadOnlyList<IndexedRow> Standbys,
    IReadOnlyList<IndexedRow> Stale,
    int NewestPrimaryTimeline)
{
    public static ClusterView Of(IReadOnlyList<InstanceState> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var up = rows.Select((row, index) => new IndexedRow(index, row))
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
            stale,
            newest);
    }

    public bool IsStale(int index) => Stale.Any(s => s.Index == index);
}
