// BackendConnector.cs: opens a TCP connection to an instance within a bound, for proxied sessions and forwarded cancels.
using System.Net.Sockets;
using ConMgr.Configuration;

namespace ConMgr.Daemon.Proxy;

public static class BackendConnector
{
    /// <summary>A connected socket with TCP_NODELAY (as libpq and the postmaster set it), or the reason there is none.</summary>
    public static async Task<(Socket? Socket, string? Error)> ConnectAsync(InstanceSettings instance, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instance);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(instance.Address, instance.Port, cts.Token);
            return (socket, null);
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            return (null, $"timeout expired after {ConMgrConfigLoader.Format(timeout)} connecting to {instance.Address}:{instance.Port}");
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            return (null, $"could not connect to {instance.Address}:{instance.Port}: {ex.Message}");
        }
    }
}
