// ApplicationHandler.cs: serves one connection on conmgr's port from accept to close.
using System.Net.Sockets;
using ConMgr.Daemon.Proxy;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Clients;

/// <summary>
/// Admits a connection against max_connections (one count for all conmgr ports), reads its
/// startup packet and answers it. On the resolve port a resolve request (docs/protocol.md) gets
/// the chosen instance and stays open to carry the loss report; anything else gets a clean FATAL
/// ErrorResponse. On a proxy port (<paramref name="port"/>) a startup message becomes a relayed
/// session (docs/proxy.md). With <c>ssl = on</c> a proxy port answers an SSLRequest with 'S' and
/// a TLS handshake, and takes PostgreSQL 17's direct TLS (a ClientHello first, ALPN
/// <c>postgresql</c> required); the resolve port, and every port while <c>ssl = off</c>, answers
/// 'N' as the postmaster does. GSSENC requests always get 'N'. A CancelRequest (over TLS or not)
/// with a key conmgr issued is forwarded to the instance that owns the session.
/// </summary>
public sealed class ApplicationHandler(ApplicationRegistry registry, ResolveService resolver, ProxyService proxy, CancelForwarder cancels, ProxyPort? port, Tls.TlsConfiguration? tls, ServerLog log, TimeProvider time)
{

    /// <summary>A client must send its startup packet within this time (PostgreSQL: authentication_timeout).</summary>
    public static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Bound on sending a final error to a client that does not read.</summary>
    public static readonly TimeSpan ErrorSendTimeout = TimeSpan.FromSeconds(5);

    /// <summary>At most one SSLRequest and one GSSENCRequest precede a startup message.</summary>
    private const int MaxNegotiationRequests = 2;

    private static readonly byte[] NotSupported = [(byte)'N'];
    private static readonly byte[] WillingToEncrypt = [(byte)'S'];

    public async Task HandleAsync(Socket socket)
    {
        var connection = new ApplicationConnection(socket, time.GetUtcNow());
        if (!registry.TryAdd(connection))
        {
            // The seed: over the limit the connection is closed without an error message, and a LOG line says so.
            log.Log($"too many connections (max_connections = {registry.MaxConnections}): closing connection from {connection.Describe()} without a message");
            Diagnostics.ConMgrMetrics.RecordRefused("max_connections");
            connection.Dispose();
            return;
        }

        try
        {
            await ServeAsync(connection);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug must not leave the client guessing why its connection went away (seen: a divide by
            // zero in routing closed clients without a word). FATAL, as the postmaster logs a session
            // it ends on an internal error: shown at every log_min_messages, 'log' included.
            log.Fatal($"internal error serving {connection.Describe()}, connection closed: {ex}");
            await connection.CloseWithErrorAsync(ClientErrors.InternalError(), ErrorSendTimeout);
        }
        finally
        {
            registry.Remove(connection);
            connection.Dispose();
        }
    }

    /// <summary>
    /// Reads the startup packet, then serves it. Nothing of the startup phase (the packet, its
    /// deadline) stays referenced while a proxied session or a kept resolve socket lives on: the
    /// packet is passed straight from one call to the next, never held in this method's frame.
    /// </summary>
    private async Task ServeAsync(ApplicationConnection connection) => await DispatchAsync(connection, await ReadStartupAsync(connection));

    /// <summary>The startup packet after at most two encryption requests; null when it was already answered (timeout, garbage) or never came.</summary>
    private async Task<StartupPacket?> ReadStartupAsync(ApplicationConnection connection)
    {
        using var deadline = new CancellationTokenSource(StartupTimeout, time);
        if (ProxyTls(connection) is { } direct && await StartsWithTlsAsync(connection, deadline.Token)
            && !await HandshakeAsync(connection, direct, directTls: true, deadline.Token))
        {
            return null;
        }

        for (var negotiations = 0; ; negotiations++)
        {
            var result = connection.Tls is { } encrypted
                ? await StartupReader.ReadAsync(encrypted, deadline.Token)
                : await StartupReader.ReadAsync(connection.Socket, deadline.Token);
            if (result.TimedOut)
            {
                log.Log($"timeout waiting for the startup packet from {connection.Describe()}");
                await connection.CloseWithErrorAsync(ClientErrors.StartupTimeout(), ErrorSendTimeout);
                return null;
            }

            if (result.PeerClosed)
            {
                log.Debug($"connection from {connection.Describe()} closed before a complete startup packet");
                return null;
            }

            if (result.Error is { } error)
            {
                log.Log($"invalid startup packet from {connection.Describe()}: {error}");
                await connection.CloseWithErrorAsync(ClientErrors.InvalidStartupPacket(error, unsupportedProtocol: error.StartsWith("unsupported frontend protocol", StringComparison.Ordinal)), ErrorSendTimeout);
                return null;
            }

            switch (result.Packet)
            {
                case SslRequest or GssEncRequest when connection.Tls is not null:
                    await connection.CloseWithErrorAsync(ClientErrors.InvalidStartupPacket("encryption requested over an encrypted connection"), ErrorSendTimeout);
                    return null;
                case SslRequest when negotiations < MaxNegotiationRequests && ProxyTls(connection) is { } context:
                    if (!await connection.TrySendAsync(WillingToEncrypt, deadline.Token) || !await HandshakeAsync(connection, context, directTls: false, deadline.Token))
                    {
                        return null;
                    }

                    continue;
                case SslRequest or GssEncRequest when negotiations < MaxNegotiationRequests:
                    if (!await connection.TrySendAsync(NotSupported, deadline.Token))
                    {
                        return null;
                    }

                    continue;
                case SslRequest or GssEncRequest:
                    await connection.CloseWithErrorAsync(ClientErrors.InvalidStartupPacket("too many encryption requests"), ErrorSendTimeout);
                    return null;
                default:
                    return result.Packet;
            }
        }
    }

    /// <summary>
    /// The proxy ports' TLS as it is now (a reload may change it); null on the resolve port, with
    /// ssl = off, and on a Unix socket, where the postmaster too answers an SSLRequest with 'N'.
    /// </summary>
    private Hosting.Tls.ServerTlsContext? ProxyTls(ApplicationConnection connection) => port is null || connection.IsLocal ? null : tls?.Proxy;

    /// <summary>True when the client's first byte opens a TLS handshake: PostgreSQL 17's sslnegotiation=direct.</summary>
    private static async Task<bool> StartsWithTlsAsync(ApplicationConnection connection, CancellationToken deadline)
    {
        try
        {
            return await Hosting.Tls.ServerTlsContext.StartsWithHandshakeAsync(connection.Socket, deadline) == true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The startup reader meets the same condition and reports it.
            return false;
        }
    }

    /// <summary>
    /// The server side of a TLS handshake, within the startup deadline. A failure is logged (as the
    /// postmaster logs "could not accept SSL connection") and the connection closed: inside a failed
    /// handshake there is no channel left for an ErrorResponse. Direct TLS requires ALPN
    /// <c>postgresql</c>, as PostgreSQL 17 does.
    /// </summary>
    private async Task<bool> HandshakeAsync(ApplicationConnection connection, Hosting.Tls.ServerTlsContext context, bool directTls, CancellationToken deadline)
    {
        var (ssl, error) = await context.AcceptAsync(connection.Socket, deadline);
        if (ssl is null)
        {
            log.Log($"could not accept SSL connection from {connection.Describe()}: {error}");
            Diagnostics.ConMgrMetrics.RecordRefused("tls_handshake");
            return false;
        }

        if (directTls && ssl.NegotiatedApplicationProtocol != new System.Net.Security.SslApplicationProtocol(Tls.TlsConfiguration.PostgresAlpn))
        {
            log.Log($"received direct SSL connection request from {connection.Describe()} without ALPN protocol negotiation extension");
            Diagnostics.ConMgrMetrics.RecordRefused("tls_alpn");
            ssl.Dispose();
            return false;
        }

        connection.UseTls(ssl);
        return true;
    }

    private Task DispatchAsync(ApplicationConnection connection, StartupPacket? packet)
    {
        switch (packet)
        {
            case null:
                return Task.CompletedTask;
            case CancelRequest cancel:
                // Like the postmaster: a cancel request gets no answer, just a close once it was handed on.
                return cancels.ForwardAsync(cancel, connection.Describe());
            case StartupMessage startup when port is { } proxyPort:
                return proxy.ServeAsync(connection, proxyPort, startup);
            case StartupMessage startup when startup.GetParameter(ResolveProtocol.RequestOption) is not null:
                return resolver.ResolveAsync(connection, startup);
            default:
                log.Debug($"ordinary startup message from {connection.Describe()} refused: this is the resolve port");
                return connection.CloseWithErrorAsync(ClientErrors.NotAResolveRequest(), ErrorSendTimeout);
        }
    }
}
