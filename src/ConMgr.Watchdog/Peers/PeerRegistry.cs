// PeerRegistry.cs: the connected conmgrs: the max_heartbeat_connections limit, attribute broadcast, who shares an address.
using System.Net;

namespace ConMgr.Watchdog.Peers;

/// <summary>
/// What a lost link leaves behind on its address. <see cref="OtherConmgrAlive"/>: a different
/// conmgr still has a link from that address (its sessions there must be spared).
/// <see cref="ReconnectedAt"/>: when the same conmgr's newest link was established, if it has
/// reconnected already (sessions begun since then were routed over the new link and are not the
/// lost link's).
/// </summary>
public readonly record struct PeerRemoval(bool OtherConmgrAlive, DateTimeOffset? ReconnectedAt);

/// <summary>
/// Slots are reserved at accept time (a handshake in progress counts against
/// <c>watchdog.max_heartbeat_connections</c>), peers are added once their Hello is accepted.
/// </summary>
public sealed class PeerRegistry(int maxConnections)
{
    private readonly Lock _gate = new();
    private readonly HashSet<ConmgrPeer> _peers = [];
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly Dictionary<(IPAddress Address, object Identity), List<ConmgrPeer>> _perConmgr = [];
    private int _reserved;

    public int MaxConnections { get; } = maxConnections;

    /// <summary>Raised after every add or remove (the status file listens).</summary>
    public event Action? Changed;

    public bool TryReserve()
    {
        lock (_gate)
        {
            if (_reserved >= MaxConnections)
            {
                return false;
            }

            _reserved++;
            return true;
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            _reserved--;
        }
    }

    public void Add(ConmgrPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            _peers.Add(peer);
            _perAddress[peer.Address] = _perAddress.GetValueOrDefault(peer.Address) + 1;
            var key = (peer.Address, peer.Identity);
            if (!_perConmgr.TryGetValue(key, out var links))
            {
                _perConmgr[key] = links = [];
            }

            links.Add(peer);
        }

        Changed?.Invoke();
    }

    /// <summary>Removes <paramref name="peer"/>; says whether another conmgr is alive on its address and whether this one reconnected.</summary>
    public PeerRemoval Remove(ConmgrPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        PeerRemoval removal;
        lock (_gate)
        {
            var key = (peer.Address, peer.Identity);
            if (_peers.Remove(peer))
            {
                if (--_perAddress[peer.Address] == 0)
                {
                    _perAddress.Remove(peer.Address);
                }

                var links = _perConmgr[key];
                links.Remove(peer);
                if (links.Count == 0)
                {
                    _perConmgr.Remove(key);
                }
            }

            var sameConmgr = _perConmgr.GetValueOrDefault(key);
            var onAddress = _perAddress.GetValueOrDefault(peer.Address);
            removal = new PeerRemoval(
                onAddress > (sameConmgr?.Count ?? 0),
                sameConmgr is { Count: > 0 } ? sameConmgr.Min(p => p.EstablishedAt) : null);
        }

        Changed?.Invoke();
        return removal;
    }

    public IReadOnlyList<ConmgrPeer> Snapshot()
    {
        lock (_gate)
        {
            return [.. _peers];
        }
    }
}
