// ConMgrServer.cs: composes conmgr (listeners, control socket, instance table) and runs it until shutdown.
using System.Text.Json;
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Control;
using ConMgr.Daemon.Diagnostics;
using ConMgr.Daemon.Http;
using ConMgr.Daemon.Heartbeat;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Proxy;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Network;
using ConMgr.Http;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Server;

/// <summary>
/// The conmgr process: owns every listener and table, answers signals, and shuts down in the
/// mode asked for. All parameters of conmgr.conf need a restart (seed 2.1.2); a reload
/// re-reads the file and reports which changes will take effect only after a restart.
/// </summary>
public sealed class ConMgrServer : IDisposable
{
    private readonly ConMgrDirectory _directory;
    private readonly DirectoryLock _lock;
    private readonly ServerLog _log;
    private readonly TimeProvider _time;
    private readonly ConMgrSettings _settings;
    private readonly ApplicationRegistry _applications;
    private readonly InstanceTable _instances;
    private readonly TaskCompletionSource<ShutdownMode> _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _escalationGate = new();
    private TaskCompletionSource<ShutdownMode> _escalation = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ShutdownMode? _requested;
    private readonly DateTimeOffset _startedAt;
    private readonly InstanceMonitor[] _monitors;
    private readonly SplitBrainWatch _splitBrain;
    private readonly CancellationTokenSource _stopMonitors = new();
    private IReadOnlyDictionary<string, string> _loadedValues;
    private Task _changes = Task.CompletedTask;
    private ListenerGroup? _listener;
    private Auth.ClientAdmission? _admission;
    private ListenerGroup? _readWriteListener;
    private ListenerGroup? _readOnlyListener;
    private ProxyService? _proxy;
    private Pooling.PoolService? _pools;
    private ControlServer? _control;
    private HttpPort? _http;
    private readonly Tls.TlsConfiguration? _tls;
    private readonly string? _tlsError;
    private volatile string _state = "starting";
    private readonly Hosting.Systemd.ServiceNotifier _systemd = new();
    private int _readyNotified;
    private readonly ConMgr.Heartbeat.Reactor.HeartbeatReactor _heartbeat;

    private static readonly SessionCounts NoSessions = new(0, 0, 0);

    /// <param name="heartbeat">The heartbeat reactor: the one thread that beats, receives and judges every link.</param>
    public ConMgrServer(ConMgrDirectory directory, ConfigLoadResult config, DirectoryLock directoryLock, ServerLog log, TimeProvider time, ConMgr.Heartbeat.Reactor.HeartbeatReactor heartbeat)
    {
        ArgumentNullException.ThrowIfNull(config);
        _directory = directory;
        _lock = directoryLock;
        _log = log;
        _time = time;
        _settings = config.Settings;
        _loadedValues = config.Values;
        _startedAt = time.GetUtcNow();
        _heartbeat = heartbeat;
        _applications = new ApplicationRegistry(_settings.MaxConnections);
        _instances = new InstanceTable(_settings.Instances, time);
        _splitBrain = new SplitBrainWatch(log);
        // Random per process: the watchdogs tell this conmgr's reconnections from another conmgr on the same host by it.
        var conmgrId = Random.Shared.NextInt64(1, long.MaxValue);
        try
        {
            _tls = Tls.TlsConfiguration.Load(_settings);
        }
        catch (Hosting.Tls.TlsFileException ex)
        {
            // Reported as FATAL by RunAsync, before anything listens.
            _tlsError = ex.Message;
            _tls = null;
        }

        _monitors = _tls is null ? [] : [.. Enumerable.Range(0, _instances.Count).Select(i => new InstanceMonitor(i, _instances, _settings, _tls, conmgrId, log, time, heartbeat))];
    }

    public async Task<int> RunAsync()
    {
        try
        {
            ConMgrMetrics.Observe(_instances.Rows, _applications.SessionCounts);
            if (_tls is not { } tls)
            {
                _log.Fatal(_tlsError!);
                return 1;
            }

            if (_settings.HeartbeatAuth.Unauthenticated)
            {
                _log.Warning("watchdogs are not authenticated (heartbeat_secret_file = none, no heartbeat_sslrootcert): whoever answers on a watchdog port, a process that took it while the watchdog restarts included, can feed conmgr forged attributes and send applications to the wrong server (docs/tls.md)");
            }

            var router = new Router(_applications.Outstanding, _settings.MaxStandbyLag, _settings.ReadOnlyFallback);
            var guard = new SessionGuard(_instances, _applications, _log);
            var resolver = new ResolveService(_instances, _applications, router, guard, _log);
            var keys = new CancelKeys();
            _admission = _settings.Preauth ? Auth.ClientAdmission.Load(Path.Combine(_directory.Path, _settings.HbaFile), Path.Combine(_directory.Path, _settings.IdentFile)) : null;
            var preauth = _admission is null ? null : new Auth.Preauthenticator(_admission, _monitors, _settings, _log);
            _pools = preauth is not null && _settings.Pool.Pooling ? new Pooling.PoolService(_instances, _settings, tls, preauth, keys, _log, TimeProvider.System) : null;
            var proxy = _proxy = new ProxyService(_instances, _applications, router, guard, keys, _settings, tls, _log, preauth, _pools);
            if (_pools is { } pools)
            {
                ConMgrMetrics.ObservePools(() => pools.Status(_applications.Snapshot()));
            }

            var cancels = new CancelForwarder(keys, _settings.ReadWriteConnectTimeout, tls, _log);
            _changes = Task.Run(() => ConsumeChangesAsync(guard));
            ApplicationHandler Handler(ProxyPort? port) => new(_applications, resolver, proxy, cancels, port, tls, _log, _time);
            _listener = new ListenerGroup("conmgr", ListenEndpoints.Resolve(_settings.ListenAddresses, _settings.Port), Handler(null).HandleAsync, _log, _settings.UnixSocketDirectories, _settings.UnixSocketPermissions);
            if (_settings.ReadWritePort != 0)
            {
                _readWriteListener = new ListenerGroup("read-write port", ListenEndpoints.Resolve(_settings.ReadWriteListenAddresses ?? _settings.ListenAddresses, _settings.ReadWritePort), Handler(ProxyPort.ReadWrite).HandleAsync, _log, _settings.UnixSocketDirectories, _settings.UnixSocketPermissions);
            }

            if (_settings.ReadOnlyPort != 0)
            {
                _readOnlyListener = new ListenerGroup("read-only port", ListenEndpoints.Resolve(_settings.ReadOnlyListenAddresses ?? _settings.ListenAddresses, _settings.ReadOnlyPort), Handler(ProxyPort.ReadOnly).HandleAsync, _log, _settings.UnixSocketDirectories, _settings.UnixSocketPermissions);
            }

            _control = new ControlServer(_directory, Dispatch, _log);
            if (_settings.HttpPort != 0)
            {
                _http = new HttpPort(ListenEndpoints.Resolve(_settings.HttpListenAddresses ?? _settings.ListenAddresses, _settings.HttpPort), _log, ("conmgr", Program.Version), ConMgrMetrics.MeterName, ConMgr.Heartbeat.Diagnostics.HeartbeatMetrics.MeterName);
                ConMgrHttpPaths.Map(_http, new ClusterHealth(_instances, router, _settings, () => _state == "ready"), Status);
                try
                {
                    // Bound before the pid file is written, like every other port: a busy port means no start.
                    await _http.StartAsync();
                }
                catch (IOException ex)
                {
                    _log.Fatal($"could not listen on http_port {_settings.HttpPort}: {ex.Message}");
                    return 1;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Net.Sockets.SocketException or IOException or ConfigException)
        {
            _log.Fatal(ex.Message);
            return 1;
        }

        using var signals = new SignalHandlers(
            RequestShutdown,
            Reload);
        _lock.WritePidFile(new PidFile(Environment.ProcessId, _directory.Path, _startedAt.ToUnixTimeSeconds(), _settings.Port, _settings.ListenAddresses[0]));
        using var trimmer = new Hosting.Runtime.IdleMemoryTrimmer(_log, _time, () => _applications.Count);
        _listener.Start();
        _readWriteListener?.Start();
        _readOnlyListener?.Start();
        _control.Start();
        var monitoring = Task.WhenAll(_monitors.Select(m => Task.Run(() => m.RunAsync(_stopMonitors.Token))));
        _state = "ready";
        _log.Log($"conmgr {Program.Version} is ready to accept connections ({_settings.Instances.Count} instance(s) configured; heartbeat {_tls!.Heartbeat.Describe()}; heartbeat thread: {_heartbeat.Scheduling})");
        var rows = _instances.Rows();
        NotifySystemd(rows, ClusterView.Of(rows));

        var mode = await ShutdownAsync(await _shutdown.Task);
        if (mode != ShutdownMode.Immediate)
        {
            await Task.WhenAll(_monitors.Select(m => m.SayGoodbyeAsync("conmgr shutting down"))).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        await _stopMonitors.CancelAsync();
        await monitoring;
        _instances.Complete();
        await _changes;
        _log.Log("conmgr is shut down");
        return 0;
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _readWriteListener?.Dispose();
        _readOnlyListener?.Dispose();
        _control?.Dispose();
        if (Interlocked.Exchange(ref _http, null) is { } http)
        {
            http.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        }

        _proxy?.Dispose();
        _pools?.Dispose();
        _stopMonitors.Dispose();
    }

    /// <summary>
    /// A shutdown signal. The first starts the shutdown; a later, stronger one (smart, then fast,
    /// then immediate) cuts short the one in progress, as with the postmaster. A weaker one is ignored.
    /// </summary>
    private void RequestShutdown(ShutdownMode mode)
    {
        _log.Debug($"shutdown signal received ({mode})");
        lock (_escalationGate)
        {
            if (_requested is { } current && mode <= current)
            {
                return;
            }

            _requested = mode;
            _systemd.Stopping($"{mode.ToString().ToLowerInvariant()} shutdown");
            if (!_shutdown.TrySetResult(mode))
            {
                _escalation.TrySetResult(mode);
                _escalation = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>A stronger shutdown request than the ones seen so far.</summary>
    private Task<ShutdownMode> NextEscalation()
    {
        lock (_escalationGate)
        {
            return _escalation.Task;
        }
    }

    /// <summary>Stops in <paramref name="mode"/>, switching to a stronger mode if one is asked for meanwhile; returns the mode it ended in.</summary>
    private async Task<ShutdownMode> ShutdownAsync(ShutdownMode mode)
    {
        _state = "stopping";
        _listener?.Dispose();
        _readWriteListener?.Dispose();
        _readOnlyListener?.Dispose();
        var escalation = NextEscalation();
        while (true)
        {
            _log.Log($"received {mode.ToString().ToLowerInvariant()} shutdown request");
            var work = mode switch
            {
                ShutdownMode.Smart => _applications.WaitEmptyAsync(),

                // Every close started is awaited (each bounded by ErrorSendTimeout) before conmgr goes on to exit.
                ShutdownMode.Fast => Task.WhenAll(_applications.Snapshot().Select(c => c.CloseWithErrorAsync(ClientErrors.AdminShutdown(), ApplicationHandler.ErrorSendTimeout))),
                _ => Task.CompletedTask,
            };
            if (await Task.WhenAny(work, escalation) == work)
            {
                break;
            }

            mode = await escalation;
            escalation = NextEscalation();
        }

        _control?.Dispose();

        // Load balancers saw 503 on every health path during the shutdown (not accepting); now the port closes.
        if (Interlocked.Exchange(ref _http, null) is { } http)
        {
            await http.DisposeAsync();
        }

        return mode;
    }

    /// <summary>
    /// The one consumer of instance changes, in the order they happened: loss and role-change
    /// reports to clients, and the split-brain log. Runs on its own task, never on a socket's.
    /// </summary>
    private async Task ConsumeChangesAsync(SessionGuard guard)
    {
        await foreach (var rows in _instances.Changes.ReadAllAsync())
        {
            try
            {
                var view = ClusterView.Of(rows);
                guard.OnInstancesChanged(rows, view);
                _pools?.OnInstancesChanged();
                NotifySystemd(rows, view);

                // At shutdown the links close one by one; that ends no split brain, so say nothing.
                if (_state != "stopping")
                {
                    _splitBrain.Check(view);
                }
            }
            catch (Exception ex)
            {
                _log.Error($"BUG: handling an instance change: {ex}");
            }
        }
    }

    /// <summary>
    /// systemd (Type=notify): READY=1 once conmgr listens and the primary's heartbeat is up, what
    /// <c>cm_ctl start</c> waits for; until then, and after, a STATUS line on every change.
    /// </summary>
    private void NotifySystemd(IReadOnlyList<InstanceState> rows, ClusterView view)
    {
        if (!_systemd.IsEnabled || _state != "ready")
        {
            return;
        }

        var up = rows.Count(r => r.Link == LinkState.Up);
        var primary = view.Primaries.Count == 1 ? $"primary: instance {view.Primaries[0].Row.Settings.Number}" : view.Primaries.Count == 0 ? "no primary" : "split brain";
        var status = $"{primary}; {up} of {rows.Count} instance(s) with heartbeat up";
        if (view.Primaries.Count > 0 && Interlocked.Exchange(ref _readyNotified, 1) == 0)
        {
            _systemd.Ready(status);
        }
        else
        {
            _systemd.Status(status);
        }
    }

    private void Reload()
    {
        _systemd.Reloading();
        try
        {
            ReloadConfiguration();
        }
        finally
        {
            // READY=1 ends the reload; before the first READY=1 it would end the start instead.
            if (Volatile.Read(ref _readyNotified) != 0)
            {
                _systemd.Ready("configuration reloaded");
            }
        }
    }

    private void ReloadConfiguration()
    {
        _log.Log("received SIGHUP, reloading configuration file");
        ConfigLoadResult reloaded;
        try
        {
            reloaded = ConMgrConfigLoader.LoadFile(_directory.ConfigFile);
        }
        catch (ConfigException ex)
        {
            // LOG, as the postmaster reports configuration file errors on SIGHUP: ERROR ranks below LOG.
            _log.Log($"{ex.Message}; configuration file not applied");
            return;
        }

        var names = _loadedValues.Keys.Union(reloaded.Values.Keys).Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            _loadedValues.TryGetValue(name, out var before);
            reloaded.Values.TryGetValue(name, out var after);
            if (before != after)
            {
                _log.Log(ConMgrConfigLoader.Reloadable.Contains(name)
                    ? $"parameter \"{name}\" changed to \"{after ?? "(default)"}\""
                    : $"parameter \"{name}\" cannot be changed without restarting conmgr");
            }
        }

        // TLS files are re-read on every reload, changed or not: a renewed certificate keeps its file name.
        _tls?.Reload(reloaded.Settings, _log);

        // conmgr_hba.conf too, as the postmaster re-reads pg_hba.conf.
        _admission?.Reload(_log);
        _loadedValues = reloaded.Values;
    }

    private string Dispatch(string command) => command switch
    {
        "status" => JsonSerializer.Serialize(Status(), ControlJsonContext.Default.StatusReport),
        _ => $"error: unknown command \"{command}\"\n",
    };

    private StatusReport Status()
    {
        var sessions = _applications.SessionCounts();
        return new(
            Environment.ProcessId,
            _state,
            _startedAt,
            _directory.Path,
            _settings.Port,
            _settings.ListenAddresses,
            [.. _instances.Snapshot(_settings.MaxStandbyLag).Select((instance, index) => instance with { Sessions = sessions.GetValueOrDefault(index, NoSessions) })],
            [.. _applications.Snapshot().Select(c => new ApplicationStatus(c.Describe(), c.ConnectedAt, c.Target, c.Instance, c.Port ?? "resolve", (c.Relay as Pooling.PooledSession)?.Describe()))],
            _pools?.Status(_applications.Snapshot()));
    }
}
