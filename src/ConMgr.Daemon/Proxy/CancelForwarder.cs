// CancelForwarder.cs: passes a proxied client's CancelRequest on to the instance that runs its session.
using System.Net.Sockets;
using ConMgr.Daemon.Diagnostics;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// A CancelRequest with a key conmgr issued is sent, with the server's own key, to the instance
/// that issued it; any other is dropped. Either way the client gets what a postmaster gives it:
/// no answer, and the connection closed once the cancel was handed on (libpq waits for that close).
/// </summary>
public sealed class CancelForwarder(CancelKeys keys, TimeSpan connectTimeout, ServerLog log)
{
    /// <summary>Bound on the instance taking the forwarded request.</summary>
    private static readonly TimeSpan ForwardTimeout = TimeSpan.FromSeconds(5);

    public async Task ForwardAsync(CancelRequest request, string client)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (keys.Find(request) is not var (server, instance))
        {
            // PostgreSQL logs a wrong key at DEBUG only, and so do we: it is no one's business that it was wrong.
            log.Debug($"cancel request from {client} matches no proxied session");
            ConMgrMetrics.RecordCancel("unknown_key");
            return;
        }

        var (socket, error) = await BackendConnector.ConnectAsync(instance, connectTimeout);
        if (socket is null)
        {
            log.Log($"could not forward a cancel request from {client} to instance {instance.Number}: {error}");
            ConMgrMetrics.RecordCancel("failed");
            return;
        }

        using (socket)
        using (var cts = new CancellationTokenSource(ForwardTimeout))
        {
            try
            {
                await socket.SendAsync(new CancelRequest(server.ProcessId, server.SecretKey).ToArray(), SocketFlags.None, cts.Token);

                // The postmaster closes once it has taken the request; wait for that, so the client's close means "delivered".
                await socket.ReceiveAsync(new byte[1], SocketFlags.None, cts.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                log.Log($"could not forward a cancel request from {client} to instance {instance.Number}: {ex.Message}");
                ConMgrMetrics.RecordCancel("failed");
                return;
            }
        }

        ConMgrMetrics.RecordCancel("forwarded");

        log.Debug($"forwarded a cancel request from {client} to instance {instance.Number} (backend process {server.ProcessId})");
    }
}
