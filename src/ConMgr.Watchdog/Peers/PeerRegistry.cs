// PeerRegistry.cs: the connected conmgrs: the max_heartbeat_connections limit, attribute broadcast, who shares an address.
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Watchdog.Peers;

/// <summary>
/// Slots are reserved at accept time (a handshake in progress counts against
/// <c>watchdog.max_heartbeat_connections</c>), peers are added once their Hello is accepted.
/// </summary>
public sealed class PeerRegistry(int maxConnections)
{
    private readonly Lock _gate = new();
    private readonly HashSet<ConmgrPeer> _peers = [];
    private readonly Dictionary<System.Net.IPAddress, int> _perAddress = [];
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
        }

        Changed?.Invoke();
    }

    /// <summary>Removes <paramref name="peer"/>; returns true when another live peer has the same address.</summary>
    public bool Remove(ConmgrPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        bool sameAddressRemains;
        lock (_gate)
        {
            if (_peers.Remove(peer) && --_perAddress[peer.Address] == 0)
            {
                _perAddress.Remove(peer.Address);
            }

            sameAddressRemains = _perAddress.ContainsKey(peer.Address);
        }

        Changed?.Invoke();
        return sameAddressRemains;
    }

    public IReadOnlyList<ConmgrPeer> Snapshot()
    {
        lock (_gate)
        {
            return [.. _peers];
        }
    }

    /// <summary>Pushes <paramref name="attributes"/> to every peer at once.</summary>
    public void Broadcast(InstanceAttributes attributes)
    {
        var frame = new AttributesFrame(attributes);
        foreach (var peer in Snapshot())
        {
            peer.Link.Send(frame);
        }
    }
}
