// PoolService.cs: the proxy ports' pooling: the server pool, how a pooled server connection is opened and logged in, and how a client's pooled session starts.
using ConMgr.Configuration;
using ConMgr.Daemon.Auth;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Proxy;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Pooling;

/// <summary>
/// Owns the <see cref="ServerPool"/>. A pooled server connection is opened with the pool's
/// startup message (<see cref="PooledStartup"/>) and logged in by preauth with the credentials of
/// the client that needed it (pooling requires preauth: conmgr has checked every client of the
/// role itself). The pool keeps a connection only while its instance serves the port; an instance
/// change closes the idle ones at once.
/// </summary>
public sealed class PoolService : IDisposable
{
    private readonly InstanceTable _instances;
    private readonly ConMgrSettings _settings;
    private readonly Tls.TlsConfiguration _tls;
    private readonly Preauthenticator _preauth;
    private readonly CancelKeys _keys;
    private readonly ServerLog _log;
    private readonly TimeProvider _time;

    public PoolService(InstanceTable instances, ConMgrSettings settings, Tls.TlsConfiguration tls, Preauthenticator preauth, CancelKeys keys, ServerLog log, TimeProvider time)
    {
        _instances = instances;
        _settings = settings;
        _tls = tls;
        _preauth = preauth;
        _keys = keys;
        _log = log;
        _time = time;
        Pool = new ServerPool(settings.Pool, time, log, Serves);
    }

    public ServerPool Pool { get; }

    public void Dispose() => Pool.Dispose();

    /// <summary>On every routing change: idle connections of instances that no longer serve their port are closed.</summary>
    public void OnInstancesChanged()
    {
        var dropped = Pool.DropUnserved();
        if (dropped > 0)
        {
            _log.Log($"closed {dropped} idle pooled server connection(s) of instances that no longer serve their port");
        }
    }

    /// <summary>
    /// Logs the client in on a pooled server connection and starts its session. Returns the
    /// session's end, or the error for the client (nothing was sent to it yet); <c>Retry</c> when
    /// the instance could not be reached and the next may be tried.
    /// </summary>
    public async Task<(Task<string>? Ended, PooledSession? Session, ErrorResponse? Error, bool Retry)> StartAsync(
        ApplicationConnection connection, ProxyPort port, ServerPoolMode mode, int index, InstanceState instance, StartupMessage serverStartup, PreauthDecision decision, PooledSession.Rerouter? reroute)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var (startup, open) = Prepare(port, index, instance, serverStartup, decision);
        var session = new PooledSession(connection, startup, mode, _settings.Pool, Pool, open, _keys, _log) { Reroute = reroute };
        var (error, retry) = await session.LoginAsync(decision.Final);
        if (error is not null || connection.IsClosing)
        {
            session.Dispose();
            return (null, null, error, retry);
        }

        return (session.RunAsync(), session, null, false);
    }

    /// <summary>The pool a client routed to <paramref name="instance"/> belongs to, and how a server connection of it is opened for that client.</summary>
    public (PooledStartup Startup, PooledSession.ServerOpener Open) Prepare(ProxyPort port, int index, InstanceState instance, StartupMessage serverStartup, PreauthDecision decision)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentNullException.ThrowIfNull(decision);
        var startup = PooledStartup.Split(serverStartup, port, index);
        var name = $"instance {instance.Settings.Number} ({instance.Settings.Address}:{instance.Settings.Port})";
        return (startup, _ => OpenAsync(startup, instance.Settings, decision.Credentials!, index, name, port));
    }

    /// <summary>Opens, logs in (preauth's server login) and reads to the first ReadyForQuery a new server connection of a pool.</summary>
    private async Task<(PooledServer? Server, IReadOnlyList<byte[]> Notices, ErrorResponse? Error)> OpenAsync(PooledStartup startup, InstanceSettings instance, LoginCredentials credentials, int index, string instanceName, ProxyPort port)
    {
        var packet = startup.Server.ToArray();
        var timeout = port == ProxyPort.ReadWrite ? _settings.ReadWriteConnectTimeout : _settings.ReadOnlyConnectTimeout;
        var (opened, connectError) = await BackendOpener.OpenAsync(instance, _tls.Backend, packet, answered: true, timeout);
        if (opened is null)
        {
            _log.Log($"{port.Name()} port: instance {instance.Number}: {connectError}");
            return (null, [], ClientErrors.BackendUnreachable(port.Name(), $"instance {instance.Number}: {connectError}"));
        }

        var (loggedIn, notices, loginError) = await _preauth.LoginAsync(opened, credentials, startup.Key.User, index, instanceName, async () => (await BackendOpener.OpenAsync(instance, _tls.Backend, packet, answered: true, timeout)).Connection);
        if (loggedIn is null)
        {
            Diagnostics.ConMgrMetrics.RecordRefused("server_login");
            return (null, [], loginError);
        }

        var server = new PooledServer(loggedIn, startup.Key, instance, _time.GetUtcNow());
        var kept = new List<byte[]>(notices);
        using var deadline = new CancellationTokenSource(ApplicationHandler.StartupTimeout);
        try
        {
            while (true)
            {
                var message = await PooledSession.ReadMessageAsync(server.Reader, deadline.Token);
                switch (message?[0])
                {
                    case null:
                        server.Close(terminate: false);
                        return (null, [], ClientErrors.BackendUnreachable(port.Name(), $"instance {instance.Number}: the server closed the connection after the login"));
                    case (byte)'E':
                        server.Close(terminate: false);
                        return (null, [], ClientErrors.FromServer(ErrorResponse.FieldsOf(message.AsSpan(5))));
                    case (byte)'S' when ParameterStatus.TryParse(message.AsSpan(5)) is { } status:
                        server.Reported[status.Name] = status.Value;
                        break;
                    case (byte)'K' when message.Length >= 5 + 4 + StartupCodes.MinCancelKeyLength && message.Length <= 5 + 4 + StartupCodes.MaxCancelKeyLength:
                        server.BackendKey = BackendKeyData.FromBody(message.AsSpan(5));
                        break;
                    case (byte)'N':
                        kept.Add(message);
                        break;
                    case (byte)'Z' when message.Length == 6:
                        server.TransactionStatus = message[5];
                        _log.Debug($"opened pooled server connection (backend process {server.ProcessId}) for {startup.Key}");
                        return (server, kept, null);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException or OperationCanceledException or MessageFormatException)
        {
            server.Close(terminate: false);
            return (null, [], ClientErrors.BackendUnreachable(port.Name(), $"instance {instance.Number}: {ex.Message}"));
        }
    }

    /// <summary>Every pool with a server connection or a client now: linked and pinned clients from their sessions, idle connections and waiting clients from the pool.</summary>
    public IReadOnlyList<Hosting.Control.PoolStatus> Status(IEnumerable<ApplicationConnection> connections)
    {
        var rows = _instances.Rows();
        var pools = Pool.Snapshot().ToDictionary(p => p.Key, p => (Active: 0, p.Value.Idle, p.Value.Waiting, Pinned: 0));
        foreach (var session in connections.Select(c => c.Relay).OfType<PooledSession>())
        {
            var (active, idle, waiting, pinned) = pools.GetValueOrDefault(session.Key);
            pools[session.Key] = (active + (session.ServerProcessId != 0 ? 1 : 0), idle, waiting, pinned + (session.Pins != SessionStateUse.None ? 1 : 0));
        }

        return [.. pools
            .Where(p => p.Key.InstanceIndex >= 0 && p.Key.InstanceIndex < rows.Count)
            .OrderBy(p => p.Key.Port).ThenBy(p => p.Key.InstanceIndex).ThenBy(p => p.Key.Database, StringComparer.Ordinal).ThenBy(p => p.Key.User, StringComparer.Ordinal)
            .Select(p => new Hosting.Control.PoolStatus(p.Key.Port.Name(), rows[p.Key.InstanceIndex].Settings.Number, p.Key.Database, p.Key.User, p.Value.Active, p.Value.Idle, p.Value.Waiting, p.Value.Pinned))];
    }

    /// <summary>The instance of a pool still serves its port: routable, and the port's role (or, on the read-only port, the primary kept read-only as a fallback).</summary>
    private bool Serves(PoolKey key)
    {
        var rows = _instances.Rows();
        if (key.InstanceIndex < 0 || key.InstanceIndex >= rows.Count || !rows[key.InstanceIndex].Routable)
        {
            return false;
        }

        var view = ClusterView.Of(rows);
        return key.Port == ProxyPort.ReadWrite
            ? Router.StillMatches(view, key.InstanceIndex, TargetSessionAttrs.ReadWrite)
            : Router.StillMatches(view, key.InstanceIndex, TargetSessionAttrs.Standby)
              || (Router.StillMatches(view, key.InstanceIndex, TargetSessionAttrs.Primary) && rows[key.InstanceIndex].Attributes.ReadOnlySessions && _settings.ReadOnlyFallback == ReadOnlyFallback.Primary);
    }
}
