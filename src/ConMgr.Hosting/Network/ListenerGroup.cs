// ListenerGroup.cs: the accept loops of one listening port on every configured address.
using System.Net;
using System.Net.Sockets;
using ConMgr.Hosting.Logging;

namespace ConMgr.Hosting.Network;

/// <summary>
/// Binds one port on each address of <c>listen_addresses</c>, and its <c>.s.PGSQL.&lt;port&gt;</c>
/// in each of <c>unix_socket_directories</c>, and hands every accepted socket to a handler. Like the
/// postmaster, an address or directory that cannot be bound is a WARNING, a socket lock file held by
/// a live process is fatal, and no socket at all is fatal.
/// </summary>
public sealed class ListenerGroup : IDisposable
{
    private readonly List<Socket> _sockets = [];
    private readonly ServerLog _log;
    private readonly string _name;
    private readonly Func<Socket, Task> _handler;
    private readonly List<Task> _loops = [];
    private readonly List<UnixSocketFile> _socketFiles = [];

    public ListenerGroup(string name, IReadOnlyList<IPEndPoint> endpoints, Func<Socket, Task> handler, ServerLog log, IReadOnlyList<string>? socketDirectories = null, int socketMode = 0x1FF)
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

        var port = endpoints.Count > 0 ? endpoints[0].Port : 0;
        foreach (var directory in socketDirectories ?? [])
        {
            try
            {
                var file = UnixSocketFile.Create(directory, port, socketMode);
                _socketFiles.Add(file);
                _sockets.Add(file.Socket);
                _log.Log($"{_name}: listening on Unix socket \"{file.SocketPath}\"");
            }
            catch (SocketLockedException ex)
            {
                Dispose();
                throw new InvalidOperationException($"{_name}: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
            {
                _log.Warning($"{_name}: could not create Unix-domain socket in directory \"{directory}\": {ex.Message}");
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

        foreach (var file in _socketFiles)
        {
            file.Dispose();
        }

        _socketFiles.Clear();
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

            if (client.AddressFamily != AddressFamily.Unix)
            {
                client.NoDelay = true;
            }

            // No Task.Run: the handler runs here until its first await (a receive), which saves a
            // thread-pool hop on every connection; it never blocks before that await.
            _ = ServeAsync(client);
        }
    }
}
