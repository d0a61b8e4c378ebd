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
/// The request reaches the server under backend_sslmode, inside TLS when the mode asks for it,
/// as libpq 17 sends its cancels.
/// </summary>
public sealed class CancelForwarder(CancelKeys keys, TimeSpan connectTimeout, Tls.TlsConfiguration tls, ServerLog log)
{
    /// <summary>Bound on the instance taking the forwarded request.</summary>
    private static readonly TimeSpan ForwardTimeout = TimeSpan.FromSeconds(5);

    public async Task ForwardAsync(CancelRequest request, string client)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (keys.Find(request) is not { } destination)
        {
            // PostgreSQL logs a wrong key at DEBUG only, and so do we: it is no one's business that it was wrong.
            log.Debug($"cancel request from {client} matches no proxied session");
            ConMgrMetrics.RecordCancel("unknown_key");
            return;
        }

        try
        {
            await ForwardToAsync(destination.Server, destination.Instance, client);
        }
        finally
        {
            destination.Done?.Invoke();
        }
    }

    private async Task ForwardToAsync(BackendKeyData server, Configuration.InstanceSettings instance, string client)
    {
        var (connection, error) = await BackendOpener.OpenAsync(instance, tls.Backend, new CancelRequest(server.ProcessId, server.SecretKey).ToArray(), answered: false, connectTimeout);
        if (connection is null)
        {
            log.Log($"could not forward a cancel request from {client} to instance {instance.Number}: {error}");
            ConMgrMetrics.RecordCancel("failed");
            return;
        }

        using (connection)
        using (var cts = new CancellationTokenSource(ForwardTimeout))
        {
            try
            {
                // The postmaster closes once it has taken the request; wait for that, so the client's close means "delivered".
                _ = await connection.Stream.ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false, cts.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
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
