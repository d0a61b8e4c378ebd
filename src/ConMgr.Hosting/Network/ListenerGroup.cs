// ListenerGroup.cs: the accept loops of one listening port on every configured address.
using System.Net;
using System.Net.Sockets;
using ConMgr.Hosting.Logging;

namespace ConMgr.Hosting.Network;

/// <summary>
/// Binds one port on each address of <c>listen_addresses</c> and hands every accepted socket to
/// a handler. Like the postmaster, an address that cannot be bound is a WARNING; none at all is fatal.
/// </summary>
public sealed class ListenerGroup : IDisposable
{
    private readonly List<Socket> _sockets = [];
    private readonly ServerLog _log;
    private readonly string _name;
    private readonly Func<Socket, Task> _handler;
    private readonly List<Task> _loops = [];

    public ListenerGroup(string name, IReadOnlyList<IPEndPoint> endpoints, Func<Socket, Task> handler, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        _name = name;
        _handler = handler;
        _log = log;
        foreach (var endpoint in endpoints)
        {
            try
            {
                _sockets.Add(ListenEndpoints.Bind(endpoint));
                _log.Log($"{_name}: listening on {Describe(endpoint)}");
            }
            catch (SocketException ex)
            {
                _log.Warning($"{_name}: could not bind {Describe(endpoint)}: {ex.Message}");
            }
        }

        if (_sockets.Count == 0)
        {
            throw new InvalidOperationException($"{_name}: could not create any listening socket on port {(endpoints.Count > 0 ? endpoints[0].Port : 0)}");
        }
    }

    public void Start()
    {
        foreach (var socket in _sockets)
        {
            _loops.Add(Task.Run(() => AcceptLoopAsync(socket)));
        }
    }

    /// <summary>Stops accepting: closes the listening sockets (accepted connections are not touched).</summary>
    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
    }

    /// <summary>Runs the handler; an exception it lets escape is a bug, logged, and costs only that connection.</summary>
    private async Task ServeAsync(Socket client)
    {
        try
        {
            await _handler(client);
        }
        catch (Exception ex)
        {
            _log.Error($"{_name}: unexpected error serving a connection: {ex}");
            client.Dispose();
        }
    }

    private static string Describe(IPEndPoint endpoint) =>
        endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"IPv6 address \"{endpoint.Address}\", port {endpoint.Port}" : $"IPv4 address \"{endpoint.Address}\", port {endpoint.Port}";

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException ex)
            {
                // EMFILE and friends: say so, back off a little, keep serving.
                _log.Error($"{_name}: could not accept new connection: {ex.Message}");
                await Task.Delay(100);
                continue;
            }

            client.NoDelay = true;

            // No Task.Run: the handler runs here until its first await (a receive), which saves a
            // thread-pool hop on every connection; it never blocks before that await.
            _ = ServeAsync(client);
        }
    }
}
