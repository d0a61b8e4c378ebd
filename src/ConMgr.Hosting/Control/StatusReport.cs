// StatusReport.cs: what conmgr answers on its control socket, as cm_ctl status shows it.
using System.Text.Json.Serialization;

namespace ConMgr.Hosting.Control;

/// <summary>The whole state of a conmgr at one moment.</summary>
public sealed record StatusReport(
    int Pid,
    string State,
    DateTimeOffset StartedAt,
    string Directory,
    int Port,
    IReadOnlyList<string> ListenAddresses,
    IReadOnlyList<InstanceStatus> Instances,
    IReadOnlyList<ApplicationStatus> Applications,
    IReadOnlyList<PoolStatus>? Pools = null);

/// <summary>One configured instance and what conmgr knows of it.</summary>
/// <param name="Heartbeat">Link state: <c>down</c>, <c>connecting</c>, <c>up</c>, or <c>interrupted</c> (the watchdog's connection closed without a Goodbye; conmgr is reconnecting).</param>
/// <param name="Role"><c>unknown</c>, <c>primary</c> or <c>standby</c>; or why routing sets it aside: <c>stale primary</c>, <c>contested primary</c>, <c>foreign</c>.</param>
/// <param name="ReadOnly">default_transaction_read_only; null unless the heartbeat is up.</param>
/// <param name="Since">When the link state or the role last changed.</param>
/// <param name="ReplayLagMs">Standby replay lag; null on a primary or when unknown.</param>
/// <param name="LastError">Why the link is down or interrupted (connect failure or loss reason); null when up.</param>
/// <param name="SystemIdentifier">The instance's system identifier (pg_control_system()), as text; null unless known.</param>
/// <param name="Excluded">Why a reachable instance is never routed to (foreign system identifier, split brain), or takes no read-only sessions (beyond max_standby_lag); null when it can be.</param>
/// <param name="LagBytes">WAL a standby has still to replay: the primary's position less the standby's replay position, as conmgr last heard them; null on a primary or when unknown.</param>
/// <param name="Sessions">Application connections sent to this instance now, per port.</param>
public sealed record InstanceStatus(
    int Number,
    string Address,
    int Port,
    int WatchdogPort,
    string Heartbeat,
    string Role,
    bool? ReadOnly,
    double? LastRttMs,
    DateTimeOffset Since,
    int? Timeline,
    double? ReplayLagMs,
    string? LastError,
    string? SystemIdentifier = null,
    string? Excluded = null,
    long? LagBytes = null,
    SessionCounts? Sessions = null);

/// <summary>Application connections sent to one instance, per port: two-phase clients on conmgr's port, proxied sessions on the others.</summary>
public sealed record SessionCounts(int Resolve, int ReadWrite, int ReadOnly);

/// <summary>One application connection to one of conmgr's ports.</summary>
/// <param name="Port"><c>resolve</c> (conmgr's port: a two-phase client), <c>read-write</c> or <c>read-only</c> (a proxied session).</param>
/// <param name="Server">A pooled client's server connection: <c>backend N</c> while it holds one, <c>none</c> between transactions, <c>waiting</c>; with <c>, pinned: …</c> when transaction mode keeps it on its server. Null without pooling.</param>
public sealed record ApplicationStatus(string Client, DateTimeOffset ConnectedAt, string? Target, string? Instance, string Port = "resolve", string? Server = null);

/// <summary>One pool: a port's server connections to one instance for one database and role (never any key or secret).</summary>
/// <param name="Active">Server connections linked to a client now.</param>
/// <param name="Idle">Server connections in the pool, free.</param>
/// <param name="Waiting">Clients waiting for a server connection of this pool.</param>
/// <param name="Pinned">Clients of this pool pinned to their server connection (transaction mode).</param>
public sealed record PoolStatus(string Port, int Instance, string Database, string User, int Active, int Idle, int Waiting, int Pinned);

/// <summary>Source-generated JSON for the control channel (no reflection, trimming-safe).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(StatusReport))]
public sealed partial class ControlJsonContext : JsonSerializerContext;
