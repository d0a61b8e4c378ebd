// AddressShares.cs: how many heartbeat connections each source address holds, so one stranger cannot take every slot.
using System.Net;

namespace ConMgr.Watchdog.Server;

/// <summary>
/// watchdog.max_connections_per_address: connections one address may hold at once, in their
/// handshake or established. A host that opens more is refused at accept (kind "address"), before
/// it costs a handshake; other addresses, the real conmgrs, keep their share of
/// watchdog.max_heartbeat_connections and of the pending-handshake bound. −1: no limit.
/// </summary>
internal sealed class AddressShares(int limit)
{
    private readonly Dictionary<IPAddress, int> _held = [];
    private readonly Lock _gate = new();

    public int Limit => limit;

    /// <summary>Takes a share for <paramref name="address"/>; false when it holds its limit already.</summary>
    public bool TryEnter(IPAddress address)
    {
        var key = Normalize(address);
        lock (_gate)
        {
            var held = _held.GetValueOrDefault(key);
            if (limit >= 0 && held >= limit)
            {
                return false;
            }

            _held[key] = held + 1;
            return true;
        }
    }

    /// <summary>Gives back a share taken by <see cref="TryEnter"/>.</summary>
    public void Leave(IPAddress address)
    {
        var key = Normalize(address);
        lock (_gate)
        {
            if (_held.TryGetValue(key, out var held))
            {
                if (held <= 1)
                {
                    _held.Remove(key);
                }
                else
                {
                    _held[key] = held - 1;
                }
            }
        }
    }

    /// <summary>An IPv4 peer on a dual-stack socket is the same host as on an IPv4 one.</summary>
    internal static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
