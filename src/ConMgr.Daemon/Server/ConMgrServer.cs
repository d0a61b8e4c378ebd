// ConMgrServer.cs: composes conmgr (listeners, control socket, instance table) and runs it until shutdown.
using System.Text.Json;
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Control;
using ConMgr.Daemon.Heartbeat;
using ConMgr.Daemon.Instances;
using ConMgr.Daemon.Routing;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Logging;
using ConMgr.Hosting.Network;
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
    private readonly DateTimeOffset _startedAt;
    private readonly InstanceMonitor[] _monitors;
    private readonly SplitBrainWatch _splitBrain;
    private readonly CancellationTokenSource _stopMonitors = new();
    private IReadOnlyDictionary<string, string> _loadedValues;
    private ListenerGroup? _listener;
    private ControlServer? _control;
    private volatile string _state = "starting";

    public ConMgrServer(ConMgrDirectory directory, ConfigLoadResult config, DirectoryLock directoryLock, ServerLog log, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(config);
        _directory = directory;
        _lock = directoryLock;
        _log = log;
        _time = time;
        _settings = config.Settings;
        _loadedValues = config.Values;
        _startedAt = time.GetUtcNow();
        _applications = new ApplicationRegistry(_settings.MaxConnections);
        _instances = new InstanceTable(_settings.Instances, time);
        _splitBrain = new SplitBrainWatch(log);
        _monitors = [.. Enumerable.Range(0, _instances.Count).Select(i => new InstanceMonitor(i, _instances, _settings, log, time))];
    }

    public async Task<int> RunAsync()
    {
        try
        {
            var resolver = new ResolveService(_instances, _applications, new Router(_applications.Outstanding), _log);
            _instances.Changed += (_, _) =>
            {
                var rows = _instances.Rows();
                var view = ClusterView.Of(rows);
                resolver.OnInstancesChanged(rows, view);

                // At shutdown the links close one by one; that ends no split brain, so say nothing.
                if (_state != "stopping")
                {
                    _splitBrain.Check(view);
                }
            };
            var handler = new ApplicationHandler(_applications, resolver, _log, _time);
            _listener = new ListenerGroup("conmgr", ListenEndpoints.Resolve(_settings.ListenAddresses, _settings.Port), handler.HandleAsync, _log);
            _control = new ControlServer(_directory, Dispatch, _log);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Net.Sockets.SocketException or IOException)
        {
            _log.Fatal(ex.Message);
            return 1;
        }

        using var signals = new SignalHandlers(
            mode =>
            {
                _log.Debug($"shutdown signal received ({mode})");
                _shutdown.TrySetResult(mode);
            },
            Reload);
        _lock.WritePidFile(new PidFile(Environment.ProcessId, _directory.Path, _startedAt.ToUnixTimeSeconds(), _settings.Port, _settings.ListenAddresses[0]));
        _listener.Start();
        _control.Start();
        var monitoring = Task.WhenAll(_monitors.Select(m => Task.Run(() => m.RunAsync(_stopMonitors.Token))));
        _state = "ready";
        _log.Log($"conmgr {Program.Version} is ready to accept connections ({_settings.Instances.Count} instance(s) configured)");

        var mode = await _shutdown.Task;
        await ShutdownAsync(mode);
        if (mode != ShutdownMode.Immediate)
        {
            foreach (var monitor in _monitors)
            {
                monitor.SayGoodbye("conmgr shutting down");
            }
        }

        await _stopMonitors.CancelAsync();
        await monitoring;
        _log.Log("conmgr is shut down");
        return 0;
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _control?.Dispose();
        _stopMonitors.Dispose();
    }

    private async Task ShutdownAsync(ShutdownMode mode)
    {
        _state = "stopping";
        _log.Log($"received {mode.ToString().ToLowerInvariant()} shutdown request");
        _listener?.Dispose();
        switch (mode)
        {
            case ShutdownMode.Smart:
                await _applications.WaitEmptyAsync();
                break;
            case ShutdownMode.Fast:
                await Task.WhenAll(_applications.Snapshot().Select(c => c.CloseWithErrorAsync(ClientErrors.AdminShutdown(), ApplicationHandler.ErrorSendTimeout)));
                break;
            case ShutdownMode.Immediate:
                break;
        }

        _control?.Dispose();
    }

    private void Reload()
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
                _log.Log($"parameter \"{name}\" cannot be changed without restarting conmgr");
            }
        }

        _loadedValues = reloaded.Values;
    }

    private string Dispatch(string command) => command switch
    {
        "status" => JsonSerializer.Serialize(Status(), ControlJsonContext.Default.StatusReport),
        _ => $"error: unknown command \"{command}\"\n",
    };

    private StatusReport Status() => new(
        Environment.ProcessId,
        _state,
        _startedAt,
        _directory.Path,
        _settings.Port,
        _settings.ListenAddresses,
        _instances.Snapshot(),
        [.. _applications.Snapshot().Select(c => new ApplicationStatus(c.Describe(), c.ConnectedAt, c.Target, c.Instance))]);
}
