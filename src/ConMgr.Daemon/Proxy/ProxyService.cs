// ProxyService.cs: routes a proxy port's client to an instance, connects, and hands the session to the relay.
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// The read-write port routes as the resolve protocol does for <c>read-write</c>; the read-only
/// port to a standby (least outstanding connections, as on the resolve port). An instance that
/// cannot be opened within the port's connect timeout (TCP, and TLS under backend_sslmode: a
/// certificate that fails verification, no TLS where it is required) is skipped and the next
/// eligible one tried; with none left the client gets FATAL 08001 at once, never a hang.
/// Sessions with no TLS on either side go to the epoll relay reactor; the others to the Stream relay.
/// </summary>
public sealed class ProxyService(InstanceTable instances, ApplicationRegistry registry, Router router, SessionGuard guard, CancelKeys keys, ConMgrSettings settings, Tls.TlsConfiguration tls, ServerLog log, Auth.Preauthenticator? preauth = null, Pooling.PoolService? pools = null) : IDisposable
{
    /// <summary>The Stream relay instead of the reactor: only for the benchmark's comparison (docs/benchmarks.md).</summary>
    private static readonly bool UseStreamRelay = Environment.GetEnvironmentVariable("CONMGR_PROXY_RELAY") == "stream";

    /// <summary>One relay thread per two cores: the relay is system calls, and the server and clients need the cores too.</summary>
    private readonly Lazy<RelayReactor[]> _reactors = new(() => [.. Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount / 2)).Select(i => new RelayReactor($"proxy relay {i}"))]);
    private int _nextReactor;

    /// <summary>Clients each port serves now, for read_write_/read_only_max_client_connections.</summary>
    private int _readWriteClients;
    private int _readOnlyClients;

    public void Dispose()
    {
        if (_reactors.IsValueCreated)
        {
            foreach (var reactor in _reactors.Value)
            {
                reactor.Dispose();
            }
        }
    }

    /// <summary>
    /// Routes, connects and starts the relay, then waits for the session's end in a frame of its
    /// own: what the start needed (the startup message and packet, the server's .NET socket, the
    /// routing lists) is not kept for the life of an idle session.
    /// </summary>
    public Task ServeAsync(ApplicationConnection connection, ProxyPort port, StartupMessage startup)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        return ServeWithinLimitAsync(connection, port, startup);
    }

    /// <summary>The port's own client limit first: a client over it gets 53300 and costs no server connection.</summary>
    private async Task ServeWithinLimitAsync(ApplicationConnection connection, ProxyPort port, StartupMessage startup)
    {
        var (limit, parameter) = port == ProxyPort.ReadWrite
            ? (settings.ReadWriteMaxClientConnections, "read_write_max_client_connections")
            : (settings.ReadOnlyMaxClientConnections, "read_only_max_client_connections");
        ref var clients = ref port == ProxyPort.ReadWrite ? ref _readWriteClients : ref _readOnlyClients;
        if (Interlocked.Increment(ref clients) > limit && limit > 0)
        {
            Interlocked.Decrement(ref clients);
            log.Log($"refusing {connection.Describe()} on the {port.Name()} port: {limit} clients already ({parameter})");
            Diagnostics.ConMgrMetrics.RecordRefused("port_max_client_connections");
            await connection.CloseWithErrorAsync(ClientErrors.TooManyClientsForPort(port.Name(), parameter, limit), ApplicationHandler.ErrorSendTimeout);
            return;
        }

        try
        {
            await AwaitEndAsync(connection, StartAsync(connection, port, startup));
        }
        finally
        {
            Interlocked.Decrement(ref port == ProxyPort.ReadWrite ? ref _readWriteClients : ref _readOnlyClients);
        }
    }

    private async Task AwaitEndAsync(ApplicationConnection connection, Task<(Task<string>? Ended, int Instance)> starting)
    {
        var (ended, instance) = await starting;
        if (ended is null)
        {
            return;
        }

        var reason = await ended;
        if (log.IsEnabled(MessageLevel.Debug))
        {
            log.Debug($"proxied session of {connection.Describe()} on instance {instance} ended: {reason}");
        }
    }

    /// <summary>The running session's end (its reason) and instance number; no task when the client was refused.</summary>
    private async Task<(Task<string>? Ended, int Instance)> StartAsync(ApplicationConnection connection, ProxyPort port, StartupMessage startup)
    {
        connection.Port = port.Name();
        connection.Target = port.Name();
        connection.TargetAttrs = port.Target();
        if (IsReplication(startup.GetParameter("replication")))
        {
            log.Log($"refusing replication connection from {connection.Describe()} on the {port.Name()} port");
            await connection.CloseWithErrorAsync(ClientErrors.ReplicationRefused(port.Name()), ApplicationHandler.ErrorSendTimeout);
            return (null, -1);
        }

        // preauth: conmgr_hba.conf decides before any server connection is opened for the client.
        if (preauth?.EarlyRefusal(connection, startup) is { } refusal)
        {
            log.Log($"refusing {connection.Describe()} on the {port.Name()} port: {refusal.Message}");
            Diagnostics.ConMgrMetrics.RecordRefused("hba");
            await connection.CloseWithErrorAsync(refusal, ApplicationHandler.ErrorSendTimeout);
            return (null, -1);
        }

        Auth.PreauthDecision? decision = null;

        var failures = new List<string>();
        var skip = new HashSet<int>();
        while (true)
        {
            var route = Choose(connection, port, skip);
            if (route.Instance is not { } instance)
            {
                var error = failures.Count > 0
                    ? ClientErrors.BackendUnreachable(port.Name(), string.Join("; ", failures))
                    : ClientErrors.NoInstanceForPort(port.Name(), PortNumber(port), route.Refusal!);
                log.Log($"refusing {connection.Describe()} on the {port.Name()} port: {error.Message}{(error.Detail is null ? string.Empty : $" ({error.Detail})")}");
                await connection.CloseWithErrorAsync(error, ApplicationHandler.ErrorSendTimeout);
                return (null, -1);
            }

            connection.State = ApplicationState.Connecting;
            var instanceName = $"instance {instance.Settings.Number} ({instance.Settings.Address}:{instance.Settings.Port})";
            if (preauth is not null && decision is null)
            {
                // Authenticated once, against the first instance routed to; a retry on another instance reuses it.
                decision = await preauth.AuthenticateAsync(connection, startup, route.Index, instanceName);
                if (decision.Error is { } authError)
                {
                    Diagnostics.ConMgrMetrics.RecordRefused("auth");
                    Diagnostics.ConMgrMetrics.RecordPreauthLogin(authError.SqlState == SqlState.SqlClientUnableToEstablishSqlConnection ? "failed" : "refused");
                    await connection.CloseWithErrorAsync(authError, ApplicationHandler.ErrorSendTimeout);
                    return (null, -1);
                }
            }

            var mode = settings.Pool.ModeFor(port == ProxyPort.ReadWrite);
            if (mode != ServerPoolMode.None && pools is not null && decision?.Credentials is not null)
            {
                var reroute = mode == ServerPoolMode.Transaction && settings.Pool.FailoverFor(port == ProxyPort.ReadWrite) == PoolFailover.Reroute
                    ? RerouteFor(connection, port, startup, decision, pools)
                    : null;
                var (pooledEnd, session, poolError, retry) = await pools.StartAsync(connection, port, mode, route.Index, instance, StartupFor(port, instance, startup), decision, reroute);
                if (poolError is not null && retry)
                {
                    failures.Add($"instance {instance.Settings.Number}: {poolError.Detail ?? poolError.Message}");
                    skip.Add(route.Index);
                    continue;
                }

                if (session is null)
                {
                    Diagnostics.ConMgrMetrics.RecordPreauthLogin("failed");
                    if (poolError is not null)
                    {
                        await connection.CloseWithErrorAsync(poolError, ApplicationHandler.ErrorSendTimeout);
                    }

                    connection.Dispose();
                    return (null, -1);
                }

                Diagnostics.ConMgrMetrics.RecordPreauthLogin("ok");
                Route(connection, port, route.Index, instance);
                Attach(connection, session);
                return (DisposeAfter(pooledEnd!, session), instance.Settings.Number);
            }

            var startupPacket = StartupFor(port, instance, startup).ToArray();
            var (server, connectError) = await BackendOpener.OpenAsync(instance.Settings, tls.Backend, startupPacket, answered: true, ConnectTimeout(port));
            if (server is null)
            {
                log.Log($"{port.Name()} port: instance {instance.Settings.Number}: {connectError}");
                failures.Add($"instance {instance.Settings.Number}: {connectError}");
                skip.Add(route.Index);
                continue;
            }

            var preauthenticated = decision?.Credentials is not null;
            if (decision?.Credentials is { } credentials)
            {
                var (loggedIn, notices, loginError) = await preauth!.LoginAsync(server, credentials, startup.GetParameter("user") ?? string.Empty, route.Index, instanceName, async () => (await BackendOpener.OpenAsync(instance.Settings, tls.Backend, startupPacket, answered: true, ConnectTimeout(port))).Connection);
                if (loggedIn is null)
                {
                    Diagnostics.ConMgrMetrics.RecordRefused("server_login");
                    Diagnostics.ConMgrMetrics.RecordPreauthLogin("failed");
                    await connection.CloseWithErrorAsync(loginError!, ApplicationHandler.ErrorSendTimeout);
                    return (null, -1);
                }

                server = loggedIn;
                Diagnostics.ConMgrMetrics.RecordPreauthLogin("ok");
                if (!await TellAuthenticatedAsync(connection, decision.Final, notices))
                {
                    server.Dispose();
                    return (null, -1);
                }
            }

            Route(connection, port, route.Index, instance);
            var plaintext = connection.Tls is null && server.Tls is null && server.Prelude is null;
            var ended = plaintext && !UseStreamRelay
                ? await StartOnReactorAsync(connection, server, instance.Settings)
                : RelayStreamsAsync(connection, server, instance.Settings, guardable: !preauthenticated);
            return (ended, instance.Settings.Number);
        }
    }

    /// <summary>
    /// Gives both descriptors to a relay reactor: the .NET sockets are closed without a shutdown
    /// (the duplicates keep the connections) and dropped. The session is started on the reactor
    /// before anyone can stop it, so a stop always finds it there. Returns the session's end.
    /// </summary>
    private async Task<Task<string>> StartOnReactorAsync(ApplicationConnection connection, BackendConnection server, InstanceSettings instance)
    {
        int serverFd = -1;
        int clientFd;
        try
        {
            _ = _reactors.Value;

            // Out of .NET's epoll set, or every packet would wake its thread as well as the reactor's.
            serverFd = Hosting.Posix.RuntimeEpoll.Adopt(server.Socket);
            clientFd = connection.HandOffSocket();
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException or IOException)
        {
            if (serverFd >= 0)
            {
                Hosting.Posix.Epoll.Close(serverFd);
            }

            server.Dispose();

            // Before any byte was relayed, so the client can still be told, and not with a bare close.
            log.Log($"could not start relaying {connection.Describe()} to instance {instance.Number}: {ex.Message}");
            await connection.CloseWithErrorAsync(ClientErrors.BackendUnreachable(connection.Port ?? "proxy", $"instance {instance.Number}: {ex.Message}"), ApplicationHandler.ErrorSendTimeout);
            return Task.FromResult($"could not start relaying: {ex.Message}");
        }

        server.Dispose();
        var reactors = _reactors.Value;
        var reactor = reactors[(int)((uint)Interlocked.Increment(ref _nextReactor) % (uint)reactors.Length)];
        var session = new RelaySession(reactor, clientFd, serverFd, instance, keys, connection, log);
        var ended = session.RunAsync();
        Attach(connection, session);
        return ended;
    }

    /// <summary>
    /// The Stream relay, for TLS on either side. Channel binding is guarded when the client's TLS
    /// ends here and the server's presents another certificate than conmgr's (the same certificate
    /// gives both ends the same tls-server-end-point binding, so SCRAM-SHA-256-PLUS works through).
    /// </summary>
    /// <param name="guardable">False when conmgr did the authentication itself (preauth): nothing of it is left to guard.</param>
    private async Task<string> RelayStreamsAsync(ApplicationConnection connection, BackendConnection server, InstanceSettings instance, bool guardable = true)
    {
        var guardChannelBinding = guardable && connection.Tls is { } front && server.Tls is { } back && !SameCertificate(front.LocalCertificate, back.RemoteCertificate);
        using var session = new ProxySession(connection, server, instance, keys, log, guardChannelBinding);
        Attach(connection, session);
        await session.RunAsync();
        return session.EndReason ?? "ended";
    }

    /// <summary>preauth: the server took conmgr's login; the client now gets SCRAM's final message, any notices, and AuthenticationOk, and the server's messages after its own AuthenticationOk follow.</summary>
    private async Task<bool> TellAuthenticatedAsync(ApplicationConnection connection, byte[]? final, IReadOnlyList<byte[]> notices)
    {
        using var buffer = new MemoryStream();
        if (final is not null)
        {
            buffer.Write(final);
        }

        foreach (var notice in notices)
        {
            buffer.Write(notice);
        }

        buffer.Write(AuthenticationMessages.Request(AuthenticationCodes.Ok));
        using var cts = new CancellationTokenSource(ApplicationHandler.ErrorSendTimeout);
        if (await connection.TrySendAsync(buffer.ToArray(), cts.Token))
        {
            return true;
        }

        log.Log($"preauth: could not tell {connection.Describe()} it is authenticated: the client went away");
        connection.Dispose();
        return false;
    }

    /// <summary>Records where a client was sent: the instance, the table's version then, and what it is checked against from now on.</summary>
    private void Route(ApplicationConnection connection, ProxyPort port, int index, Instances.InstanceState instance)
    {
        connection.InstanceVersion = instance.Version;

        // A read-only fallback session is kept while its primary serves (it is read-only by the watchdog library, not by recovery).
        connection.TargetAttrs = port == ProxyPort.ReadOnly && !instance.Attributes.InRecovery ? TargetSessionAttrs.Primary : port.Target();
        registry.Assign(connection, index);
        connection.Instance = $"{instance.Settings.Address}:{instance.Settings.Port}";
    }

    /// <summary>pool_failover = reroute: a pooled client between transactions whose instance stopped serving its port is routed again at its next transaction, as at login.</summary>
    private Pooling.PooledSession.Rerouter RerouteFor(ApplicationConnection connection, ProxyPort port, StartupMessage startup, Auth.PreauthDecision decision, Pooling.PoolService pools) => () =>
    {
        var route = Choose(connection, port, []);
        if (route.Instance is not { } instance)
        {
            var error = ClientErrors.NoInstanceForPort(port.Name(), PortNumber(port), route.Refusal!);
            log.Log($"cannot route {connection.Describe()}'s next transaction on the {port.Name()} port again: {error.Message}");
            return Task.FromResult<(Pooling.PooledStartup?, Pooling.PooledSession.ServerOpener?, ErrorResponse?)>((null, null, error));
        }

        var (pooled, open) = pools.Prepare(port, route.Index, instance, StartupFor(port, instance, startup), decision);
        Route(connection, port, route.Index, instance);
        log.Log($"routed {connection.Describe()}'s next transaction on the {port.Name()} port to instance {instance.Settings.Number}");
        guard.CheckNow(connection);
        return Task.FromResult<(Pooling.PooledStartup?, Pooling.PooledSession.ServerOpener?, ErrorResponse?)>((pooled, open, null));
    };

    private static async Task<string> DisposeAfter(Task<string> ended, Pooling.PooledSession session)
    {
        try
        {
            return await ended;
        }
        finally
        {
            session.Dispose();
        }
    }

    private static bool SameCertificate(System.Security.Cryptography.X509Certificates.X509Certificate? ours, System.Security.Cryptography.X509Certificates.X509Certificate? theirs) =>
        ours is not null && theirs is not null && ours.GetRawCertData().AsSpan().SequenceEqual(theirs.GetRawCertData());

    /// <summary>
    /// From here on errors reach the client through the relay. A close that began before the relay
    /// was attached stops it now; the instance may also have been lost while conmgr connected: check once,
    /// then rely on change events.
    /// </summary>
    private void Attach(ApplicationConnection connection, IRelay relay)
    {
        connection.Relay = relay;
        connection.State = ApplicationState.Proxying;
        if (connection.IsClosing)
        {
            _ = relay.StopAtBoundaryAsync(null);
        }

        guard.CheckNow(connection);
    }

    /// <summary>
    /// The port's instance: for read-only, a standby; with none and read_only_fallback = primary,
    /// the primary, but only where the watchdog library keeps sessions read-only.
    /// </summary>
    private RouteResult Choose(ApplicationConnection connection, ProxyPort port, HashSet<int> skip)
    {
        var rows = instances.Rows();
        var route = router.Choose(rows, port.Target(), skip);
        if (route.Instance is not null || port != ProxyPort.ReadOnly || settings.ReadOnlyFallback != ReadOnlyFallback.Primary)
        {
            return route;
        }

        var unenforceable = new HashSet<int>(skip);
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Routable && !rows[i].Attributes.InRecovery && !rows[i].Attributes.ReadOnlySessions)
            {
                unenforceable.Add(i);
                log.Log($"read-only port: instance {rows[i].Settings.Number} cannot be the read-only fallback for {connection.Describe()}: the watchdog library is not loaded there (shared_preload_libraries), so the session could not be kept read-only");
            }
        }

        var fallback = router.Choose(rows, TargetSessionAttrs.Primary, unenforceable);
        return fallback.Instance is not null
            ? fallback
            : route with { Refusal = $"no standby is eligible and no primary can be a read-only fallback: {route.Refusal}" };
    }

    /// <summary>
    /// The client's startup message as the server gets it. On the read-only port, where the
    /// instance supports it, watchdog.read_only_session = on is added last (name/value pairs are
    /// applied after the options parameter, and a later pair after an earlier one), replacing any
    /// value the client sent: a PGC_BACKEND setting no later command can change.
    /// </summary>
    private static StartupMessage StartupFor(ProxyPort port, Instances.InstanceState instance, StartupMessage startup)
    {
        if (port != ProxyPort.ReadOnly || !instance.Attributes.ReadOnlySessions)
        {
            return startup;
        }

        return startup.With(ReadOnlySessionParameter, "on");
    }

    /// <summary>The watchdog library's PGC_BACKEND setting that keeps a session read-only (extension/watchdog/read_only_session.c).</summary>
    public const string ReadOnlySessionParameter = "watchdog.read_only_session";

    /// <summary>PostgreSQL's reading of the replication parameter: a boolean, or "database" for logical replication.</summary>
    private static bool IsReplication(string? value) =>
        value is not null && value.Trim().ToLowerInvariant() is not ("false" or "off" or "no" or "0" or "f" or "n" or "of");

    private int PortNumber(ProxyPort port) => port == ProxyPort.ReadWrite ? settings.ReadWritePort : settings.ReadOnlyPort;

    private TimeSpan ConnectTimeout(ProxyPort port) => port == ProxyPort.ReadWrite ? settings.ReadWriteConnectTimeout : settings.ReadOnlyConnectTimeout;
}
