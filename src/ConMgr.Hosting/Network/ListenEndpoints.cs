// ListenEndpoints.cs: turns listen_addresses into the endpoints to bind, as the postmaster does (conmgr and watchdog).
using System.Net;
using System.Net.Sockets;

namespace ConMgr.Hosting.Network;

/// <summary>
/// Resolves <c>listen_addresses</c>: <c>*</c> means every IPv4 and IPv6 address, a host name
/// means each address it resolves to (<c>localhost</c>: 127.0.0.1 and ::1), a literal is itself.
/// </summary>
public static class ListenEndpoints
{
    public static IReadOnlyList<IPEndPoint> Resolve(IEnumerable<string> addresses, int port)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var result = new List<IPEndPoint>();
        foreach (var address in addresses)
        {
            IEnumerable<IPAddress> resolved = address switch
            {
                "*" => [IPAddress.Any, IPAddress.IPv6Any],
                _ when IPAddress.TryParse(address, out var literal) => [literal],
                "localhost" => [IPAddress.Loopback, IPAddress.IPv6Loopback],
                _ => Dns.GetHostAddresses(address),
            };
            foreach (var ip in resolved)
            {
                var endpoint = new IPEndPoint(ip, port);
                if (!result.Contains(endpoint))
                {
                    result.Add(endpoint);
                }
            }
        }

        return result;
    }

    /// <summary>A listening socket; IPv6 sockets are v6-only so 0.0.0.0 and :: can both be bound.</summary>
    public static Socket Bind(IPEndPoint endpoint, int backlog = 512)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endpoint);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
