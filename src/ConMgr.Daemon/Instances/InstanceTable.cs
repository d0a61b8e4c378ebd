// InstanceTable.cs: what conmgr knows of each configured instance; routing reads it, status prints it.
using ConMgr.Configuration;
using ConMgr.Hosting.Control;

namespace ConMgr.Daemon.Instances;

/// <summary>Heartbeat link state of one instance.</summary>
public enum LinkState
{
    /// <summary>No heartbeat: never connected, or lost; reconnect attempts continue.</summary>
    Down,

    /// <summary>A connect attempt (TCP connect plus first exchange) is under way.</summary>
    Connecting,

    /// <summary>Heartbeats arrive within heartbeat_timeout.</summary>
    Up,
}

/// <summary>One row of the instance table.</summary>
public sealed class InstanceEntry(InstanceSettings settings, DateTimeOffset since)
{
    public InstanceSettings Settings { get; } = settings;

    public LinkState Link { get; set; } = LinkState.Down;

    public string Role { get; set; } = "unknown";

    public bool? ReadOnly { get; set; }

    public TimeSpan? LastRtt { get; set; }

    public DateTimeOffset Since { get; set; } = since;
}

/// <summary>The configured instances, in instance-number order.</summary>
public sealed class InstanceTable
{
    private readonly Lock _gate = new();
    private readonly List<InstanceEntry> _entries;

    public InstanceTable(IEnumerable<InstanceSettings> instances, DateTimeOffset now) =>
        _entries = [.. instances.Select(i => new InstanceEntry(i, now))];

    public IReadOnlyList<InstanceStatus> Snapshot()
    {
        lock (_gate)
        {
            return [.. _entries.Select(e => new InstanceStatus(
                e.Settings.Number,
                e.Settings.Address,
                e.Settings.Port,
                e.Settings.WatchdogPort,
                e.Link.ToString().ToLowerInvariant(),
                e.Role,
                e.ReadOnly,
                e.LastRtt?.TotalMilliseconds,
                e.Since))];
        }
    }
}
