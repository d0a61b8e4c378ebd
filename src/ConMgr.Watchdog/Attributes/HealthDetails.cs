// HealthDetails.cs: what the watchdog's Patroni-compatible health paths need beyond the attributes conmgr gets.
namespace ConMgr.Watchdog.Attributes;

/// <summary>
/// Read with the attributes at every check (never per HTTP request, so no health checker can load
/// the instance). LSNs are bytes from <c>0/0</c>; -1 where PostgreSQL has none.
/// </summary>
/// <param name="ReceiveLsn">pg_last_wal_receive_lsn() on a standby.</param>
/// <param name="UpstreamEndLsn">The upstream's end of WAL as its last message to the WAL receiver said (pg_stat_wal_receiver.latest_end_lsn).</param>
/// <param name="WalReceiverStatus">pg_stat_wal_receiver.status (<c>streaming</c>, <c>starting</c>, ...); null without a WAL receiver.</param>
public sealed record HealthDetails(
    DateTimeOffset? PostmasterStart,
    long ReceiveLsn,
    long UpstreamEndLsn,
    string? WalReceiverStatus,
    bool ReplayPaused)
{
    public static HealthDetails None { get; } = new(null, -1, -1, null, false);

    /// <summary>
    /// WAL a standby has still to replay, as far as it knows: the furthest of what it received and
    /// what its upstream last said it has, less its replay position. Null when unknown (no WAL
    /// receiver and nothing received). Both positions are non-negative, so nothing overflows.
    /// </summary>
    public long? LagBytes(long replayLsn)
    {
        var upstream = Math.Max(ReceiveLsn, UpstreamEndLsn);
        return upstream < 0 || replayLsn < 0 ? null : Math.Max(0, upstream - replayLsn);
    }
}
