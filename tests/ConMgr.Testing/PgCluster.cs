// PgCluster.cs: a real primary with streaming standbys in a temp directory: the fixture every test stands on.
using System.Globalization;

namespace ConMgr.Testing;

/// <summary>Whether and how each instance gets a watchdog.</summary>
public enum WatchdogMode
{
    None,

    /// <summary>shared_preload_libraries = 'watchdog': the postmaster's launcher runs cm_watchdog.</summary>
    Launcher,

    /// <summary>The test starts cm_watchdog -D itself (<see cref="PgInstance.StartStandaloneWatchdogAsync"/>).</summary>
    Standalone,
}

/// <summary>How to build a <see cref="PgCluster"/>.</summary>
public sealed record PgClusterOptions
{
    public int Standbys { get; init; } = 1;

    /// <summary>Address the instances listen on (a namespace address for link-cut tests).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Network namespace the instances run in; null = the test's own.</summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>Where to build it. Null: a fresh directory under <see cref="PgCluster.TestRoot"/>, reaped if its owner dies.</summary>
    public string? Directory { get; init; }

    public WatchdogMode Watchdog { get; init; } = WatchdogMode.None;

    /// <summary>watchdog.check_attr_interval in milliseconds.</summary>
    public int CheckAttrIntervalMs { get; init; } = 1000;

    /// <summary>Extra postgresql.conf lines for every instance.</summary>
    public IReadOnlyList<string> ExtraSettings { get; init; } = [];

    /// <summary>Give each instance a watchdog.http_port (Patroni's health paths).</summary>
    public bool WatchdogHttp { get; init; }

    /// <summary>
    /// Run initdb for this cluster rather than copy the process's template: a cluster of its own
    /// system identifier (every copy of the template shares one). A cluster in
    /// <see cref="Directory"/> (cm_devcluster) always gets its own initdb.
    /// </summary>
    public bool FreshInitdb { get; init; }
}

/// <summary>
/// A primary (initdb) and streaming standbys (pg_basebackup -R) on free ports, owned by the
/// <c>postgres</c> OS user. Disposing stops every instance and removes the directory; a cluster
/// whose test process died is reaped by the next fixture (see <see cref="StaleClusters"/>), and
/// clusters still alive at process exit are torn down by an exit hook.
/// </summary>
public sealed class PgCluster : IAsyncDisposable
{
    public const string TestRoot = "/tmp/conmgr-test";

    private static readonly Lock LiveGate = new();
    private static readonly List<PgCluster> Live = [];
    private readonly List<PgInstance> _instances = [];
    private readonly PgClusterOptions _options;
    private int _disposed;

    static PgCluster() => AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAllLive();

    private PgCluster(string directory, PgClusterOptions options)
    {
        Directory = directory;
        _options = options;
    }

    public string Directory { get; }

    public PgInstance Primary => _instances[0];

    public IReadOnlyList<PgInstance> Standbys => _instances.Skip(1).ToList();

    public IReadOnlyList<PgInstance> Instances => _instances;

    private RunAs RunAs => new("postgres", _options.NetworkNamespace);

    public static async Task<PgCluster> StartAsync(PgClusterOptions? options = null)
    {
        options ??= new PgClusterOptions();
        StaleClusters.Reap(TestRoot);
        var directory = options.Directory ?? Path.Combine(TestRoot, $"{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
        var cluster = new PgCluster(Path.GetFullPath(directory), options);
        lock (LiveGate)
        {
            Live.Add(cluster);
        }

        try
        {
            await cluster.CreateDirectoryAsync(owned: options.Directory is null);
            await cluster.InitPrimaryAsync();
            for (var i = 0; i < options.Standbys; i++)
            {
                await cluster.AddStandbyAsync();
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Takes a base backup of the primary, starts it as a standby and waits until it streams.</summary>
    public async Task<PgInstance> AddStandbyAsync()
    {
        var name = $"standby{_instances.Count}";
        var instance = new PgInstance(name, Path.Combine(Directory, name), _options.Host, FreePort.Next(), RunAs, WatchdogPort()) { WatchdogHttpPort = WatchdogHttpPort() };
        (await ProcessRunner.RunAsync(
            PgBinaries.Path("pg_basebackup"),
            ["-h", Primary.Host, "-p", Primary.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-D", instance.DataDirectory, "-R", "-X", "stream", "-c", "fast"],
            RunAs)).EnsureSuccess($"pg_basebackup for {name}");
        await AppendSettingsAsync(instance);
        _instances.Add(instance);
        await instance.StartAsync();
        await WaitForStreamingAsync(instance);
        return instance;
    }

    /// <summary>Waits until the primary reports <paramref name="standby"/> streaming (cluster_name is its application_name).</summary>
    public Task WaitForStreamingAsync(PgInstance standby, PgInstance? upstream = null)
    {
        ArgumentNullException.ThrowIfNull(standby);
        var source = upstream ?? Primary;
        return Poll.UntilAsync(
            async () => await source.ScalarAsync<long>($"select count(*) from pg_stat_replication where state = 'streaming' and application_name = '{standby.Name}'") == 1,
            TimeSpan.FromSeconds(60),
            $"{standby.Name} to stream from {source.Name}");
    }

    /// <summary>
    /// Waits until every standby (or <paramref name="standbys"/>) has replayed everything committed
    /// on the primary so far. The target is pg_current_wal_insert_lsn(), read now: it includes
    /// every commit that has returned, where pg_current_wal_lsn() (the write position) may not
    /// when a commit is asynchronous.
    /// </summary>
    public async Task WaitForReplayAsync(params PgInstance[] standbys)
    {
        var target = await Primary.ScalarAsync<string>("select pg_current_wal_insert_lsn()::text");
        foreach (var standby in standbys.Length > 0 ? standbys : [.. Standbys])
        {
            await Poll.UntilAsync(
                async () => await standby.ScalarAsync<bool>($"select pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
                TimeSpan.FromSeconds(30),
                $"{standby.Name} to replay up to {target}");
        }
    }

    /// <summary>Leaves the cluster running past this process (cm_devcluster up): no exit hook, no cleanup.</summary>
    public void Detach()
    {
        Interlocked.Exchange(ref _disposed, 1);
        lock (LiveGate)
        {
            Live.Remove(this);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (LiveGate)
        {
            Live.Remove(this);
        }

        foreach (var instance in _instances)
        {
            if (instance.StandaloneWatchdog is { } watchdog)
            {
                await watchdog.DisposeAsync();
            }

            try
            {
                instance.Thaw();
                if (instance.PostmasterPid is not null)
                {
                    await instance.StopAsync("immediate");
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                // Fall through to the hard kill below.
            }

            instance.KillAll();
        }

        if (_options.Directory is null || _instances.Count > 0)
        {
            StaleClusters.RemoveDirectory(Directory);
        }
    }

    private int WatchdogPort() => _options.Watchdog == WatchdogMode.None ? 0 : FreePort.Next();

    private int WatchdogHttpPort() => _options.WatchdogHttp ? FreePort.Next() : 0;

    private static void DisposeAllLive()
    {
        PgCluster[] live;
        lock (LiveGate)
        {
            live = [.. Live];
        }

        foreach (var cluster in live)
        {
            cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private async Task CreateDirectoryAsync(bool owned)
    {
        System.IO.Directory.CreateDirectory(Directory);
        if (owned)
        {
            File.WriteAllText(Path.Combine(Directory, StaleClusters.OwnerFile), StaleClusters.OwnerStamp());
        }

        if (Hosting.Posix.Libc.IsRoot)
        {
            (await ProcessRunner.RunAsync("chown", ["postgres:postgres", Directory])).EnsureSuccess("chown of the cluster directory");
        }
    }

    private async Task InitPrimaryAsync()
    {
        var primary = new PgInstance("primary", Path.Combine(Directory, "primary"), _options.Host, FreePort.Next(), RunAs, WatchdogPort()) { WatchdogHttpPort = WatchdogHttpPort() };
        if (_options.FreshInitdb || _options.Directory is not null)
        {
            await PgTemplate.InitDbAsync(primary.DataDirectory, RunAs);
        }
        else
        {
            await PgTemplate.CopyToAsync(primary.DataDirectory, RunAs);
        }

        await AppendSettingsAsync(primary);
        _instances.Add(primary);
        await primary.StartAsync();

        // The launched watchdog generates the heartbeat secret at its first start; standbys get it
        // with the base backup, so it must exist before the first one is taken.
        if (_options.Watchdog == WatchdogMode.Launcher && HeartbeatSecretFile is { } secret)
        {
            await Poll.UntilAsync(() => File.Exists(secret), TimeSpan.FromSeconds(30), $"the watchdog to generate {secret}");
        }
        else if (_options.Watchdog == WatchdogMode.Standalone && HeartbeatSecretFile is { } provisioned)
        {
            // Standalone watchdogs start after the standbys are made: provision the secret as the
            // first watchdog would generate it (64 hex characters, 0600), so the standbys copy it.
            await File.WriteAllTextAsync(provisioned, Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
            File.SetUnixFileMode(provisioned, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (Hosting.Posix.Libc.IsRoot)
            {
                (await ProcessRunner.RunAsync("chown", ["postgres:postgres", provisioned])).EnsureSuccess("chown of the heartbeat secret");
            }
        }
    }

    /// <summary>
    /// The watchdog setting of tests that speak the bare heartbeat protocol to a real watchdog (bad
    /// input, fuzzing, scripted peers): authentication off, explicitly, as an operator would have to.
    /// </summary>
    public const string Unauthenticated = "watchdog.secret_file = 'none'";

    /// <summary>
    /// The heartbeat secret the watchdogs generated in the primary's data directory (the default a
    /// new install gets, shared by the standbys through pg_basebackup); null when the cluster's
    /// settings choose another authentication (watchdog.secret_file, client certificates) or none.
    /// </summary>
    public string? HeartbeatSecretFile =>
        _options.Watchdog == WatchdogMode.None || _options.ExtraSettings.Any(s => s.StartsWith("watchdog.secret_file", StringComparison.Ordinal) || (s.StartsWith("watchdog.ssl_ca_file", StringComparison.Ordinal) && !s.Contains("'none'", StringComparison.Ordinal)))
            ? null
            : Path.Combine(Primary.DataDirectory, "heartbeat.secret");

    /// <summary>Per-instance settings; later lines win, so a standby's copy of the primary's file is fixed up the same way.</summary>
    private async Task AppendSettingsAsync(PgInstance instance)
    {
        var lines = new List<string>
        {
            string.Empty,
            "# ConMgr test fixture",
            $"listen_addresses = '{_options.Host}'",
            $"port = {instance.Port}",
            $"unix_socket_directories = '{instance.SocketDirectory}'",
            $"cluster_name = '{instance.Name}'",
            "fsync = off",
            "full_page_writes = off",
            "shared_buffers = 16MB",
            "max_connections = 40",
            "max_wal_senders = 10",
            "wal_keep_size = '64MB'",
            "hot_standby = on",
            "log_line_prefix = '%m [%p] '",
        };
        if (_options.Watchdog != WatchdogMode.None)
        {
            lines.Add($"watchdog.port = {instance.WatchdogPort}");
            lines.Add($"watchdog.check_attr_interval = {_options.CheckAttrIntervalMs}");
            lines.Add($"watchdog.http_port = {instance.WatchdogHttpPort}");
        }

        if (_options.Watchdog == WatchdogMode.Launcher)
        {
            // No watchdog.program: the docs' minimal setup, relying on scripts/install-extension.sh
            // having put cm_watchdog beside the server's executables, as a package would.
            lines.Add("shared_preload_libraries = 'watchdog'");
        }

        lines.AddRange(_options.ExtraSettings);
        await File.AppendAllLinesAsync(Path.Combine(instance.DataDirectory, "postgresql.conf"), lines);
    }
}
