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
/// <see cref="Lagging"/>: eligible standbys further behind than <c>max_standby_lag</c>; they stay
/// eligible for <c>any</c> but are not among <see cref="Standbys"/>, so no read-only target, the
/// read-only port included, is sent to them.
/// </summary>
public sealed record ClusterView(
    IReadOnlyList<IndexedRow> Eligible,
    IReadOnlyList<IndexedRow> Primaries,
    IReadOnlyList<IndexedRow> Standbys,
    IReadOnlyList<IndexedRow> Stale,
    IReadOnlyList<IndexedRow> Contested,
    IReadOnlyList<IndexedRow> Foreign,
    long SystemIdentifier,
    int NewestPrimaryTimeline,
    IReadOnlyList<IndexedRow> Lagging)
{
    /// <param name="lagLimit">max_standby_lag; off (the default) for views that only ask about roles and split brain.</param>
    public static ClusterView Of(IReadOnlyList<InstanceState> rows, Configuration.StandbyLagLimit lagLimit = default)
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
        var primaries = eligible.Where(r => !r.Row.Attributes.InRecovery).ToList();
        var standbys = eligible.Where(r => r.Row.Attributes.InRecovery).ToList();
        var primaryLsn = primaries.Count == 1 ? primaries[0].Row.Attributes.Lsn : (long?)null;
        var lagging = lagLimit.IsOff ? [] : standbys.Where(s => lagLimit.Exceeded(LagBytes(s.Row, primaryLsn), ReplayLag(s.Row))).ToList();
        return new ClusterView(
            eligible,
            primaries,
            [.. standbys.Except(lagging)],
            stale,
            contested,
            foreign,
            identifier,
            newest,
            lagging)
        {
            PrimaryLsn = primaryLsn,
        };
    }

    /// <summary>The one eligible primary's WAL position (pg_current_wal_insert_lsn: every commit that has returned), as its watchdog last reported it; null without exactly one.</summary>
    public long? PrimaryLsn { get; private init; }

    /// <summary>
    /// How many bytes of WAL a standby has still to replay: the primary's current position less the
    /// standby's replay position, both as conmgr last heard them (so an idle standby that has
    /// replayed everything has no lag). Null for a primary, or without exactly one eligible primary.
    /// </summary>
    public long? LagBytesOf(InstanceState row) => LagBytes(row, PrimaryLsn);

    /// <summary>The standby's replay delay as its watchdog measures it (zero once it has replayed all it received); null when unknown.</summary>
    public static TimeSpan? ReplayLag(InstanceState row)
    {
        ArgumentNullException.ThrowIfNull(row);
        // The watchdog's number is taken as sent: bounded here so no value overflows a TimeSpan.
        return row.Attributes.InRecovery && row.Attributes.ReplayLagUs >= 0 ? TimeSpan.FromMicroseconds(Math.Min(row.Attributes.ReplayLagUs, MaxReplayLagUs)) : null;
    }

    /// <summary>About 31 years: more than any real lag, far below TimeSpan's limit.</summary>
    private const long MaxReplayLagUs = 1_000_000_000_000_000;

    /// <summary>Both positions are non-negative (the watchdog sends an LSN less '0/0'), so the difference cannot overflow; anything else is unknown.</summary>
    private static long? LagBytes(InstanceState row, long? primaryLsn) =>
        row.Attributes.InRecovery && primaryLsn is >= 0 and var lsn && row.Attributes.Lsn >= 0 ? Math.Max(0, lsn - row.Attributes.Lsn) : null;

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

        if (Lagging.FirstOrDefault(l => l.Index == index) is { Row: not null } lagging)
        {
            return $"lagging: {Describe(LagBytesOf(lagging.Row), ReplayLag(lagging.Row))} behind, beyond max_standby_lag: no read-only sessions until it catches up";
        }

        return null;
    }

    private static string Describe(long? bytes, TimeSpan? replay) =>
        string.Join(" and ", new[] { bytes is { } b ? $"{b} bytes" : null, replay is { } r ? $"{r.TotalMilliseconds:0} ms" : null }.Where(p => p is not null));

    private static string Id(long identifier) => identifier.ToString(CultureInfo.InvariantCulture);
}
