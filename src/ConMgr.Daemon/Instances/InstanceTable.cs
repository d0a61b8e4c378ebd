// InstanceTable.cs: what conmgr knows of each configured instance; routing reads it, status prints it.
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
}

/// <summary>One row of the instance table: an immutable snapshot, replaced on every change.</summary>
public sealed record InstanceState(
    InstanceSettings Settings,
    LinkState Link,
    InstanceAttributes Attributes,
    TimeSpan? LastRtt,
    DateTimeOffset Since,
    string? LastError)
{
    /// <summary>Role for routing and display: only an up link with an available instance has one.</summary>
    public string Role => Link == LinkState.Up ? Attributes.Role : "unknown";
}

/// <summary>
/// The configured instances, in instance-number order. Each row is replaced atomically, so a
/// reader (router, status) always sees a consistent row; <see cref="Changed"/> fires after each.
/// </summary>
public sealed class InstanceTable
{
    private readonly Lock _gate = new();
    private readonly InstanceState[] _rows;
    private readonly TimeProvider _time;

    public InstanceTable(IEnumerable<InstanceSettings> instances, TimeProvider time)
    {
        _time = time;
        var now = time.GetUtcNow();
        _rows = [.. instances.Select(i => new InstanceState(i, LinkState.Down, InstanceAttributes.Unavailable, null, now, null))];
    }

    /// <summary>Raised after a row changed, with its index.</summary>
    public event Action<int, InstanceState>? Changed;

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

    public void SetConnecting(int index) => Update(index, row => row.Link == LinkState.Connecting ? row : row with { Link = LinkState.Connecting });

    public void SetUp(int index, InstanceAttributes attributes) =>
        Update(index, row => row with { Link = LinkState.Up, Attributes = attributes, Since = _time.GetUtcNow(), LastError = null });

    public void SetAttributes(int index, InstanceAttributes attributes) =>
        Update(index, row => attributes.Sequence < row.Attributes.Sequence ? row : row with
        {
            Attributes = attributes,
            Since = attributes.RoleDiffers(row.Attributes) ? _time.GetUtcNow() : row.Since,
        });

    public void SetRtt(int index, TimeSpan? rtt) => Update(index, row => row with { LastRtt = rtt }, notify: false);

    public void SetDown(int index, string reason) =>
        Update(index, row => row with
        {
            Link = LinkState.Down,
            Attributes = InstanceAttributes.Unavailable,
            Since = row.Link == LinkState.Down ? row.Since : _time.GetUtcNow(),
            LastError = reason,
        });

    public IReadOnlyList<InstanceStatus> Snapshot()
    {
        var rows = Rows();

        // A primary on an older timeline than another live primary is a split-brain leftover: say so.
        var view = ClusterView.Of(rows);
        return [.. rows.Select((row, i) => Status(row, view.IsStale(i) ? "stale primary" : row.Role))];
    }

    private static InstanceStatus Status(InstanceState row, string role) => new(
        row.Settings.Number,
        row.Settings.Address,
        row.Settings.Port,
        row.Settings.WatchdogPort,
        row.Link.ToString().ToLowerInvariant(),
        role,
        row.Link == LinkState.Up && row.Attributes.Available ? row.Attributes.DefaultTransactionReadOnly : null,
        row.LastRtt?.TotalMilliseconds,
        row.Since,
        row.Link == LinkState.Up && row.Attributes.Available ? row.Attributes.Timeline : null,
        row.Link == LinkState.Up && row.Attributes.ReplayLagUs >= 0 ? row.Attributes.ReplayLagUs / 1000.0 : null,
        row.LastError);

    private void Update(int index, Func<InstanceState, InstanceState> change, bool notify = true)
    {
        InstanceState updated;
        lock (_gate)
        {
            var before = _rows[index];
            updated = change(before);
            if (ReferenceEquals(updated, before))
            {
                return;
            }

            _rows[index] = updated;
        }

        if (notify)
        {
            Changed?.Invoke(index, updated);
        }
    }
}
