// InstanceTable.cs: what conmgr knows of each configured instance; routing reads it, status prints it.
using System.Threading.Channels;
using ConMgr.Configuration;
using ConMgr.Hosting.Control;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Daemon.Instances;

/// <summary>Heartbeat link state of one instance.</summary>
public enum LinkState
{
    /// <summary>No heartbeat: never connected, or lost; reconnect attempts continue every heartbeat_connect_interval.</summary>
    Down,

    /// <summary>A connect attempt (TCP connect plus Hello/Welcome, bounded by heartbeat_connect_timeout) is under way.</summary>
    Connecting,

    /// <summary>Heartbeats arrive within heartbeat_timeout.</summary>
    Up,

    /// <summary>
    /// The watchdog's connection closed without a Goodbye: its process went away but its host
    /// answered. The instance keeps its attributes and stays routable while conmgr reconnects,
    /// until heartbeat_timeout after the last frame received (docs/protocol.md, "Watchdog restarts").
    /// </summary>
    Interrupted,
}

/// <summary>One row of the instance table: an immutable snapshot, replaced on every change.</summary>
/// <param name="Version">Raised on every change that matters to routing; a snapshot older than a client's assignment says nothing about that client.</param>
public sealed record InstanceState(
    InstanceSettings Settings,
    LinkState Link,
    InstanceAttributes Attributes,
    TimeSpan? LastRtt,
    DateTimeOffset Since,
    string? LastError,
    long Version = 0)
{
    /// <summary>Heartbeat up (or interrupted, waiting for the watchdog to come back) and the watchdog reaching its instance.</summary>
    public bool Routable => Link is LinkState.Up or LinkState.Interrupted && Attributes.Available;

    /// <summary>Role for routing and display: only a routable instance has one.</summary>
    public string Role => Link is LinkState.Up or LinkState.Interrupted ? Attributes.Role : "unknown";

    /// <summary>True when <paramref name="other"/> differs in anything a router acts on.</summary>
    public bool RoutingDiffers(InstanceState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Routable != other.Routable || Attributes.RoleDiffers(other.Attributes);
    }
}

/// <summary>
/// The configured instances, in instance-number order. Each row is replaced atomically, so a
/// reader (router, status) always sees a consistent row. Changes that matter to routing are
/// queued, in the order they happened, as whole-table snapshots on <see cref="Changes"/>: one
/// consumer handles them (loss reports, split-brain log), never on a socket's completion thread,
/// and LSN or RTT ticks queue nothing.
/// </summary>
public sealed class InstanceTable
{
    private readonly Lock _gate = new();
    private readonly InstanceState[] _rows;
    private readonly TimeProvider _time;
    private readonly Channel<IReadOnlyList<InstanceState>> _changes = Channel.CreateUnbounded<IReadOnlyList<InstanceState>>(new UnboundedChannelOptions { SingleReader = true });

    public InstanceTable(IEnumerable<InstanceSettings> instances, TimeProvider time)
    {
        _time = time;
        var now = time.GetUtcNow();
        _rows = [.. instances.Select(i => new InstanceState(i, LinkState.Down, InstanceAttributes.Unavailable, null, now, null))];
    }

    /// <summary>Snapshots of the whole table after each routing-relevant change, oldest first.</summary>
    public ChannelReader<IReadOnlyList<InstanceState>> Changes => _changes.Reader;

    public int Count => _rows.Length;

    public InstanceState this[int index]
    {
        get
        {
            lock (_gate)
            {
                return _rows[index];
            }
        }
    }

    public IReadOnlyList<InstanceState> Rows()
    {
        lock (_gate)
        {
            return [.. _rows];
        }
    }

    /// <summary>Ends the change queue (shutdown): the consumer drains what is queued and stops.</summary>
    public void Complete() => _changes.Writer.TryComplete();

    public void SetConnecting(int index) => Update(index, row => row.Link is LinkState.Connecting or LinkState.Interrupted ? row : row with { Link = LinkState.Connecting });

    public void SetUp(int index, InstanceAttributes attributes) =>
        Update(index, row => row with { Link = LinkState.Up, Attributes = attributes, Since = row.Link == LinkState.Interrupted && !attributes.RoleDiffers(row.Attributes) ? row.Since : _time.GetUtcNow(), LastError = null });

    /// <summary>The watchdog's connection closed without a Goodbye: keep the instance while reconnecting.</summary>
    public void SetInterrupted(int index, string reason) =>
        Update(index, row => row with { Link = LinkState.Interrupted, LastError = reason });

    public void SetAttributes(int index, InstanceAttributes attributes) =>
        Update(index, row => attributes.Sequence < row.Attributes.Sequence ? row : row with
        {
            Attributes = attributes,
            Since = attributes.RoleDiffers(row.Attributes) ? _time.GetUtcNow() : row.Since,
        });

    public void SetRtt(int index, TimeSpan? rtt) => Update(index, row => row with { LastRtt = rtt });

    public void SetDown(int index, string reason) =>
        Update(index, row => row with
        {
            Link = LinkState.Down,
            Attributes = InstanceAttributes.Unavailable,
            Since = row.Link == LinkState.Down ? row.Since : _time.GetUtcNow(),
            LastError = reason,
        });

    /// <param name="lagLimit">max_standby_lag, so status says which standbys it sets aside.</param>
    public IReadOnlyList<InstanceStatus> Snapshot(Configuration.StandbyLagLimit lagLimit = default)
    {
        var rows = Rows();
        var view = ClusterView.Of(rows, lagLimit);
        return [.. rows.Select((row, i) => Status(row, view, i))];
    }

    private static InstanceStatus Status(InstanceState row, ClusterView view, int index)
    {
        var known = row.Routable;
        return new(
            row.Settings.Number,
            row.Settings.Address,
            row.Settings.Port,
            row.Settings.WatchdogPort,
            row.Link.ToString().ToLowerInvariant(),
            view.RoleOf(index, row),
            known ? row.Attributes.DefaultTransactionReadOnly : null,
            row.LastRtt?.TotalMilliseconds,
            row.Since,
            known ? row.Attributes.Timeline : null,
            row.Link is LinkState.Up or LinkState.Interrupted ? ClusterView.ReplayLag(row)?.TotalMilliseconds : null,
            row.LastError,
            known ? row.Attributes.SystemIdentifier.ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
            view.ExclusionOf(index),
            view.LagBytesOf(row));
    }

    private void Update(int index, Func<InstanceState, InstanceState> change)
    {
        lock (_gate)
        {
            var before = _rows[index];
            var updated = change(before);
            if (ReferenceEquals(updated, before) || updated == before)
            {
                return;
            }

            var relevant = updated.RoutingDiffers(before);
            _rows[index] = relevant ? updated with { Version = before.Version + 1 } : updated;
            if (relevant)
            {
                // Queued under the lock: snapshots reach the consumer in the order the changes happened.
                _changes.Writer.TryWrite([.. _rows]);
            }
        }
    }
}
