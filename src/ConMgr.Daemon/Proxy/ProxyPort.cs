// ProxyPort.cs: the two proxy ports and what each promises its clients.
using ConMgr.Protocol.Postgres;
using ConMgr.Daemon.Routing;

namespace ConMgr.Daemon.Proxy;

/// <summary>conmgr's proxy ports (docs/proxy.md).</summary>
public enum ProxyPort
{
    /// <summary>read_write_port: the primary the resolve protocol would pick for read-write.</summary>
    ReadWrite,

    /// <summary>read_only_port: a standby; the primary, kept read-only, when none is eligible and read_only_fallback = primary.</summary>
    ReadOnly,
}

public static class ProxyPortNames
{
    /// <summary>The name used in logs, errors and status: <c>read-write</c> or <c>read-only</c>.</summary>
    public static string Name(this ProxyPort port) => port == ProxyPort.ReadWrite ? "read-write" : "read-only";

    /// <summary>The target a session on this port is routed by and re-checked against on every instance change.</summary>
    public static TargetSessionAttrs Target(this ProxyPort port) => port == ProxyPort.ReadWrite ? TargetSessionAttrs.ReadWrite : TargetSessionAttrs.Standby;
}
