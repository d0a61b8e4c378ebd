// ConmgrPeer.cs: one connected conmgr as the watchdog sees it.
using System.Net;

namespace ConMgr.Watchdog.Peers;

/// <summary>A conmgr with a live heartbeat link. Its address is what the terminator matches client_addr against.</summary>
public sealed class ConmgrPeer(IPEndPoint remote, TimeSpan interval, TimeSpan timeout, DateTimeOffset establishedAt, long conmgrId = 0)
{
    /// <summary>The conmgr's IP address (IPv4-mapped IPv6 unwrapped, as pg_stat_activity shows it).</summary>
    public IPAddress Address { get; } = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;

    /// <summary>The conmgr's ephemeral port on this connection (pgx_stat_watchdog.conmgr_port).</summary>
    public int Port { get; } = remote.Port;

    /// <summary>heartbeat_interval and heartbeat_timeout from its Hello.</summary>
    public TimeSpan Interval { get; } = interval;

    public TimeSpan Timeout { get; } = timeout;

    public DateTimeOffset EstablishedAt { get; } = establishedAt;

    /// <summary>
    /// Which conmgr process this is: equal for the links of one conmgr (a reconnect), different
    /// for two conmgrs on one host. A protocol 1.0 peer sends no id; each of its links is then
    /// taken for a conmgr of its own, as before 1.1.
    /// </summary>
    public object Identity { get; } = conmgrId != 0 ? conmgrId : new object();

    public string Describe() => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
