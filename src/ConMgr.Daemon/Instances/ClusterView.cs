// ClusterView.cs: the instance table sorted into what routing, status and the split-brain log need, split brain resolved once.
using System.Globalization;

namespace ConMgr.Daemon.Instances;

/// <summary>An instance-table row with its index.</summary>
public readonly record struct IndexedRow(int Index, InstanceState Row);

/// <summary>
/// The one place that decides which instances may be routed to; the router, the status table
/// and the split-brain log agree because they all read it.
/// <list type="bullet">
/// <item>Routable: heartbeat up (or interrupted, see <see cref="LinkState.Interrupted"/>) and the watchdog reaching its instance.</item>
/// <item><see cref="Foreign"/>: a routable instance whose system identifier is not the cluster's (a
/// misconfigured backend_hostN). The cluster's identifier is the one most routable instances
/// report; on a tie, the one of the lowest-numbered instance among the tied.</item>
/// <item><see cref="Stale"/>: a primary on an older timeline than another live primary (a demoted primary nobody fenced).</item>
/// <item><see cref="Contested"/>: two or more primaries on the newest timeline (two standbys promoted
/// from one primary): no one can tell which is right, so none of them is routed to until only one is left.</item>
/// </list>
/// Everything routable and none of these is <see cref="Eligible"/>.
/// </summary>
public sealed record ClusterView(
    IReadOnlyList<IndexedRow> Eligible,
    IReadOnlyList<IndexedRow> Primaries,
    IReadOnlyList<IndexedRow> Standbys,
    IReadOnlyList<IndexedRow> Stale,
    IReadOnlyList<IndexedRow> Contested,
    IReadOnlyList<IndexedRow> Foreign,
    long SystemIdentifier,
    int NewestPrimaryTimeline)
{
    public static ClusterView Of(IReadOnlyList<InstanceState> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var routable = rows.Select((row, index) => new IndexedRow(index, row)).Where(r => r.Row.Routable).ToList();
        var identifier = routable.Count == 0
            ? 0
            : routable.GroupBy(r => r.Row.Attributes.SystemIdentifier)
                .OrderByDescending(g => g.Count())
                .ThenBy(g => g.Min(r => r.Row.Settings.Number))
                .First().Key;
        var foreign = routable.Where(r => r.Row.Attributes.SystemIdentifier != identifier).ToList();
        var ours = routable.Except(foreign).ToList();
        var claimants = ours.Where(r => !r.Row.Attributes.InRecovery).ToList();
        var newest = claimants.Count == 0 ? 0 : claimants.Max(c => c.Row.Attributes.Timeline);
        var stale = claimants.Where(c => c.Row.Attributes.Timeline < newest).ToList();
        var onNewest = claimants.Except(stale).ToList();
        List<IndexedRow> contested = onNewest.Count > 1 ? onNewest : [];
        var eligible = ours.Except(stale).Except(contested).ToList();
        return new ClusterView(
            eligible,
            [.. eligible.Where(r => !r.Row.Attributes.InRecovery)],
            [.. eligible.Where(r => r.Row.Attributes.InRecovery)],
            stale,
            contested,
            foreign,
            identifier,
            newest);
    }

    public bool IsStale(int index) => Stale.Any(s => s.Index == index);

    public bool IsEligible(int index) => Eligible.Any(e => e.Index == index);

    /// <summary>The role to show: the instance's own, or why routing sets it aside.</summary>
    public string RoleOf(int index, InstanceState row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return Foreign.Any(f => f.Index == index) ? "foreign"
            : IsStale(index) ? "stale primary"
            : Contested.Any(c => c.Index == index) ? "contested primary"
            : row.Role;
    }

    /// <summary>Why a routable instance is never chosen; null when it can be.</summary>
    public string? ExclusionOf(int index)
    {
        if (Foreign.FirstOrDefault(f => f.Index == index) is { Row: not null } foreign)
        {
            return $"system identifier {Id(foreign.Row.Attributes.SystemIdentifier)} differs from the cluster's {Id(SystemIdentifier)} (a misconfigured backend_host{foreign.Row.Settings.Number}?): never routed to";
        }

        if (Stale.FirstOrDefault(s => s.Index == index) is { Row: not null } stale)
        {
            return $"split brain: a primary on old timeline {stale.Row.Attributes.Timeline}, newest is {NewestPrimaryTimeline}: skipped";
        }

        if (Contested.Any(c => c.Index == index))
        {
            return $"split brain: instances {string.Join(" and ", Contested.Select(c => c.Row.Settings.Number))} are all primaries on timeline {NewestPrimaryTimeline}: none is routed to until one is left";
        }

        return null;
    }

    private static string Id(long identifier) => identifier.ToString(CultureInfo.InvariantCulture);
}
