// ConMgrConfigLoader.cs: reads conmgr.conf into ConMgrSettings, rejecting anything the seed does not allow.
using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace ConMgr.Configuration;

/// <summary>The result of a successful load.</summary>
/// <param name="Settings">The typed settings.</param>
/// <param name="Warnings">Problems that do not stop conmgr but that the operator should see.</param>
/// <param name="Values">Every parameter set in the file, as written (for reload's change report).</param>
public sealed record ConfigLoadResult(
    ConMgrSettings Settings,
    IReadOnlyList<string> Warnings,
    IReadOnlyDictionary<string, string> Values);

/// <summary>
/// Loads conmgr.conf. Every error is a <see cref="ConfigException"/> naming file, line and parameter;
/// on error conmgr does not start (and a reload keeps the previous settings).
/// </summary>
public static partial class ConMgrConfigLoader
{
    public const string FileName = "conmgr.conf";

    /// <summary>Instance numbers run from 0 to this value inclusive.</summary>
    public const int MaxInstanceNumber = 999;

    private static readonly FrozenDictionary<string, MessageLevel> Levels = new Dictionary<string, MessageLevel>
    {
        ["DEBUG"] = MessageLevel.Debug,
        ["INFO"] = MessageLevel.Info,
        ["NOTICE"] = MessageLevel.Notice,
        ["WARNING"] = MessageLevel.Warning,
        ["ERROR"] = MessageLevel.Error,
        ["LOG"] = MessageLevel.Log,
        ["FATAL"] = MessageLevel.Fatal,
        ["PANIC"] = MessageLevel.Panic,
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, SyslogFacility> Facilities =
        Enumerable.Range(0, 8).ToFrozenDictionary(i => $"LOCAL{i}", i => (SyslogFacility)((int)SyslogFacility.Local0 + i));

    /// <summary>Most server connections a port may keep per instance: more than any PostgreSQL's max_connections serves.</summary>
    private const int MaxPoolServers = 262143;

    private static readonly FrozenDictionary<string, ServerPoolMode> PoolModes = new Dictionary<string, ServerPoolMode>(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = ServerPoolMode.None,
        ["session"] = ServerPoolMode.Session,
        ["transaction"] = ServerPoolMode.Transaction,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenDictionary<string, PoolFailover> Failovers = new Dictionary<string, PoolFailover>(StringComparer.OrdinalIgnoreCase)
    {
        ["disconnect"] = PoolFailover.Disconnect,
        ["reroute"] = PoolFailover.Reroute,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenDictionary<string, ReadOnlyFallback> Fallbacks = new Dictionary<string, ReadOnlyFallback>(StringComparer.OrdinalIgnoreCase)
    {
        ["primary"] = ReadOnlyFallback.Primary,
        ["none"] = ReadOnlyFallback.None,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenDictionary<string, BackendSslMode> SslModes = new Dictionary<string, BackendSslMode>
    {
        ["DISABLE"] = BackendSslMode.Disable,
        ["ALLOW"] = BackendSslMode.Allow,
        ["PREFER"] = BackendSslMode.Prefer,
        ["REQUIRE"] = BackendSslMode.Require,
        ["VERIFY-CA"] = BackendSslMode.VerifyCa,
        ["VERIFY-FULL"] = BackendSslMode.VerifyFull,
    }.ToFrozenDictionary();

    /// <summary>The scalar parameters: name, then how a value is applied to the settings.</summary>
    private static readonly FrozenDictionary<string, Func<ConMgrSettings, ConfigEntry, string, ConMgrSettings>> Scalars =
        new Dictionary<string, Func<ConMgrSettings, ConfigEntry, string, ConMgrSettings>>
        {
            ["port"] = (s, e, f) => s with { Port = ValueParsers.Number(e, f, 1, 65535) },
            ["heartbeat_interval"] = (s, e, f) => s with { HeartbeatInterval = ValueParsers.Time(e, f) },
            ["heartbeat_timeout"] = (s, e, f) => s with { HeartbeatTimeout = ValueParsers.Time(e, f) },
            ["heartbeat_connect_interval"] = (s, e, f) => s with { HeartbeatConnectInterval = ValueParsers.Time(e, f) },
            ["heartbeat_connect_timeout"] = (s, e, f) => s with { HeartbeatConnectTimeout = ValueParsers.Time(e, f) },
            ["log_destination"] = (s, e, f) => s with { LogDestination = ValueParsers.LogDestination(e, f) },
            ["syslog_facility"] = (s, e, f) => s with { SyslogFacility = ValueParsers.Enum(e, f, Facilities) },
            ["syslog_ident"] = (s, e, f) => s with { SyslogIdent = ValueParsers.Text(e, f, 64) },
            ["log_min_messages"] = (s, e, f) => s with { LogMinMessages = ValueParsers.Enum(e, f, Levels) },
            ["max_connections"] = (s, e, f) => s with { MaxConnections = ValueParsers.Number(e, f, 0, int.MaxValue) },
            ["listen_addresses"] = (s, e, f) => s with { ListenAddresses = ValueParsers.ListenAddresses(e, f) },
            ["read_write_listen_addresses"] = (s, e, f) => s with { ReadWriteListenAddresses = ValueParsers.ListenAddresses(e, f) },
            ["read_only_listen_addresses"] = (s, e, f) => s with { ReadOnlyListenAddresses = ValueParsers.ListenAddresses(e, f) },
            ["http_listen_addresses"] = (s, e, f) => s with { HttpListenAddresses = ValueParsers.ListenAddresses(e, f) },
            ["unix_socket_directories"] = (s, e, f) => s with { UnixSocketDirectories = ValueParsers.SocketDirectories(e, f) },
            ["preauth"] = (s, e, f) => s with { Preauth = ValueParsers.Boolean(e, f) },
            ["hba_file"] = (s, e, f) => s with { HbaFile = ValueParsers.FilePath(e, f) },
            ["ident_file"] = (s, e, f) => s with { IdentFile = ValueParsers.FilePath(e, f) },
            ["preauth_lookup_timeout"] = (s, e, f) => s with { PreauthLookupTimeout = ValueParsers.Time(e, f) },
            ["unix_socket_permissions"] = (s, e, f) => s with { UnixSocketPermissions = ValueParsers.FileMode(e, f) },
            ["read_write_port"] = (s, e, f) => s with { ReadWritePort = ValueParsers.Number(e, f, 0, 65535) },
            ["read_only_port"] = (s, e, f) => s with { ReadOnlyPort = ValueParsers.Number(e, f, 0, 65535) },
            ["http_port"] = (s, e, f) => s with { HttpPort = ValueParsers.Number(e, f, 0, 65535) },
            ["read_only_fallback"] = (s, e, f) => s with { ReadOnlyFallback = ValueParsers.Enum(e, f, Fallbacks) },
            ["max_standby_lag"] = (s, e, f) => s with { MaxStandbyLag = ValueParsers.StandbyLag(e, f) },
            ["read_write_connect_timeout"] = (s, e, f) => s with { ReadWriteConnectTimeout = ValueParsers.Time(e, f) },
            ["read_only_connect_timeout"] = (s, e, f) => s with { ReadOnlyConnectTimeout = ValueParsers.Time(e, f) },
            ["read_write_max_client_connections"] = (s, e, f) => s with { ReadWriteMaxClientConnections = ValueParsers.Number(e, f, 0, int.MaxValue) },
            ["read_only_max_client_connections"] = (s, e, f) => s with { ReadOnlyMaxClientConnections = ValueParsers.Number(e, f, 0, int.MaxValue) },
            ["server_pool_mode"] = (s, e, f) => s with { Pool = s.Pool with { Mode = ValueParsers.Enum(e, f, PoolModes) } },
            ["read_write_server_pool_mode"] = (s, e, f) => s with { Pool = s.Pool with { ReadWriteMode = ValueParsers.Enum(e, f, PoolModes) } },
            ["read_only_server_pool_mode"] = (s, e, f) => s with { Pool = s.Pool with { ReadOnlyMode = ValueParsers.Enum(e, f, PoolModes) } },
            ["read_write_max_server_connections"] = (s, e, f) => s with { Pool = s.Pool with { ReadWriteMaxServerConnections = ValueParsers.Number(e, f, 1, MaxPoolServers) } },
            ["read_only_max_server_connections"] = (s, e, f) => s with { Pool = s.Pool with { ReadOnlyMaxServerConnections = ValueParsers.Number(e, f, 1, MaxPoolServers) } },
            ["pool_wait_timeout"] = (s, e, f) => s with { Pool = s.Pool with { WaitTimeout = ValueParsers.Time(e, f) } },
            ["server_idle_timeout"] = (s, e, f) => s with { Pool = s.Pool with { ServerIdleTimeout = ValueParsers.TimeOrOff(e, f) } },
            ["server_lifetime"] = (s, e, f) => s with { Pool = s.Pool with { ServerLifetime = ValueParsers.TimeOrOff(e, f) } },
            ["idle_transaction_timeout"] = (s, e, f) => s with { Pool = s.Pool with { IdleTransactionTimeout = ValueParsers.TimeOrOff(e, f) } },
            ["server_reset_query"] = (s, e, f) => s with { Pool = s.Pool with { ServerResetQuery = ValueParsers.Text(e, f, 1024) } },
            ["pool_failover"] = (s, e, f) => s with { Pool = s.Pool with { Failover = ValueParsers.Enum(e, f, Failovers) } },
            ["ssl"] = (s, e, f) => s with { Ssl = s.Ssl with { Enabled = ValueParsers.Boolean(e, f) } },
            ["ssl_cert_file"] = (s, e, f) => s with { Ssl = s.Ssl with { CertFile = ValueParsers.FilePath(e, f) } },
            ["ssl_key_file"] = (s, e, f) => s with { Ssl = s.Ssl with { KeyFile = ValueParsers.FilePath(e, f) } },
            ["ssl_ca_file"] = (s, e, f) => s with { Ssl = s.Ssl with { CaFile = ValueParsers.OptionalFilePath(e, f) } },
            ["ssl_min_protocol_version"] = (s, e, f) => s with { Ssl = s.Ssl with { MinProtocol = ValueParsers.TlsVersion(e, f, allowEmpty: false) } },
            ["ssl_max_protocol_version"] = (s, e, f) => s with { Ssl = s.Ssl with { MaxProtocol = ValueParsers.TlsVersion(e, f, allowEmpty: true) } },
            ["ssl_ciphers"] = (s, e, f) => s with { Ssl = s.Ssl with { Ciphers = ValueParsers.Text(e, f, 1024) } },
            ["backend_sslmode"] = (s, e, f) => s with { BackendTls = s.BackendTls with { Mode = ValueParsers.Enum(e, f, SslModes) } },
            ["backend_sslrootcert"] = (s, e, f) => s with { BackendTls = s.BackendTls with { RootCert = e.Value == "system" ? "system" : ValueParsers.OptionalFilePath(e, f) } },
            ["backend_sslcert"] = (s, e, f) => s with { BackendTls = s.BackendTls with { Cert = ValueParsers.OptionalFilePath(e, f) } },
            ["backend_sslkey"] = (s, e, f) => s with { BackendTls = s.BackendTls with { Key = ValueParsers.OptionalFilePath(e, f) } },
            ["heartbeat_sslcert"] = (s, e, f) => s with { HeartbeatAuth = s.HeartbeatAuth with { Cert = ValueParsers.OptionalFilePath(e, f) } },
            ["heartbeat_sslkey"] = (s, e, f) => s with { HeartbeatAuth = s.HeartbeatAuth with { Key = ValueParsers.OptionalFilePath(e, f) } },
            ["heartbeat_sslrootcert"] = (s, e, f) => s with { HeartbeatAuth = s.HeartbeatAuth with { RootCert = ValueParsers.OptionalFilePath(e, f) } },
            ["heartbeat_secret_file"] = (s, e, f) => s with { HeartbeatAuth = s.HeartbeatAuth with { SecretFile = e.Value == "none" ? null : ValueParsers.OptionalFilePath(e, f) } },
        }.ToFrozenDictionary();

    /// <summary>
    /// Parameters a reload applies (PostgreSQL reloads its SSL parameters on SIGHUP too); every
    /// other one needs a restart (seed 2.1.2).
    /// </summary>
    public static readonly FrozenSet<string> Reloadable = new[]
    {
        "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_min_protocol_version", "ssl_max_protocol_version", "ssl_ciphers",
        "backend_sslmode", "backend_sslrootcert", "backend_sslcert", "backend_sslkey",
        "heartbeat_sslcert", "heartbeat_sslkey", "heartbeat_sslrootcert", "heartbeat_secret_file",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Loads <c>conmgr.conf</c> from a conmgr directory.</summary>
    public static ConfigLoadResult LoadDirectory(string directory) => LoadFile(Path.Combine(directory, FileName));

    public static ConfigLoadResult LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, 0, null, $"could not read configuration file: {ex.Message}");
        }

        return Load(text, path);
    }

    /// <summary>Parses and types <paramref name="text"/>; <paramref name="file"/> is only used in messages.</summary>
    public static ConfigLoadResult Load(string text, string file)
    {
        var entries = ConfigFileSyntax.Parse(text, file);
        var settings = new ConMgrSettings();
        var seen = new Dictionary<string, ConfigEntry>(StringComparer.Ordinal);
        var instances = new SortedDictionary<int, InstanceDraft>();
        foreach (var entry in entries)
        {
            if (seen.TryGetValue(entry.Name, out var first))
            {
                throw new ConfigException(file, entry.Line, entry.Name, $"is set more than once (first on line {first.Line})");
            }

            seen[entry.Name] = entry;
            if (Scalars.TryGetValue(entry.Name, out var apply))
            {
                settings = apply(settings, entry, file);
            }
            else if (NumberedParameter().Match(entry.Name) is { Success: true } numbered)
            {
                ApplyNumbered(instances, numbered.Groups[1].Value, numbered.Groups[2].Value, entry, file);
            }
            else
            {
                throw new ConfigException(file, entry.Line, entry.Name, "unrecognized configuration parameter");
            }
        }

        settings = settings with { Instances = BuildInstances(instances, file), Ssl = WithDefaultFiles(settings.Ssl, seen, file), HeartbeatAuth = WithDefaultSecret(settings.HeartbeatAuth, seen, file) };
        if (settings.Preauth && settings.BackendTls.RootCert is not null && !seen.ContainsKey("backend_sslmode"))
        {
            // preauth logs in with a client's key: the server it goes to is verified unless the operator says otherwise.
            settings = settings with { BackendTls = settings.BackendTls with { Mode = BackendSslMode.VerifyFull } };
        }

        CheckHeartbeatBounds(settings, seen, file);
        CheckPortsDiffer(settings, seen, file);
        CheckTlsCombinations(settings, seen, file);
        return new ConfigLoadResult(
            settings,
            CollectWarnings(settings),
            seen.ToFrozenDictionary(p => p.Key, p => p.Value.Value, StringComparer.Ordinal));
    }

    private static void ApplyNumbered(SortedDictionary<int, InstanceDraft> instances, string prefix, string digits, ConfigEntry entry, string file)
    {
        if ((digits.Length > 1 && digits[0] == '0') || digits.Length > 3)
        {
            throw new ConfigException(file, entry.Line, entry.Name, $"invalid instance number \"{digits}\": use 0 to {MaxInstanceNumber} without leading zeros");
        }

        var number = int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
        if (!instances.TryGetValue(number, out var draft))
        {
            draft = new InstanceDraft(entry.Line);
            instances[number] = draft;
        }

        switch (prefix)
        {
            case "backend_host":
                draft.Host = ValueParsers.HostName(entry, file);
                break;
            case "backend_hostaddr":
                draft.HostAddr = ValueParsers.IpAddress(entry, file);
                break;
            case "backend_port":
                draft.Port = ValueParsers.Number(entry, file, 1, 65535);
                break;
            default:
                draft.WatchdogPort = ValueParsers.Number(entry, file, 1, 65535);
                break;
        }
    }

    private static List<InstanceSettings> BuildInstances(SortedDictionary<int, InstanceDraft> drafts, string file)
    {
        var result = new List<InstanceSettings>(drafts.Count);
        foreach (var (number, draft) in drafts)
        {
            if (draft.Host is null && draft.HostAddr is null)
            {
                throw new ConfigException(
                    file,
                    draft.FirstLine,
                    $"backend_host{number}",
                    $"instance {number} has no host: set backend_host{number} or backend_hostaddr{number}");
            }

            result.Add(new InstanceSettings(
                number,
                draft.Host,
                draft.HostAddr,
                draft.Port ?? ConMgrSettings.DefaultBackendPort,
                draft.WatchdogPort ?? ConMgrSettings.DefaultWatchdogPort));
        }

        return result;
    }

    /// <summary>conmgr's own listening ports must not collide with each other.</summary>
    private static void CheckPortsDiffer(ConMgrSettings settings, Dictionary<string, ConfigEntry> seen, string file)
    {
        var ports = new (string Name, int Port)[]
        {
            ("port", settings.Port),
            ("read_write_port", settings.ReadWritePort),
            ("read_only_port", settings.ReadOnlyPort),
            ("http_port", settings.HttpPort),
        };
        for (var i = 1; i < ports.Length; i++)
        {
            for (var j = 0; j < i; j++)
            {
                if (ports[i].Port != 0 && ports[i].Port == ports[j].Port)
                {
                    var line = seen.TryGetValue(ports[i].Name, out var entry) ? entry.Line : 0;
                    throw new ConfigException(file, line, ports[i].Name, $"port {ports[i].Port} is already used by \"{ports[j].Name}\"");
                }
            }
        }
    }

    /// <summary>ssl_cert_file and ssl_key_file default to server.crt and server.key in the conmgr directory, as in a data directory.</summary>
    private static ServerTlsSettings WithDefaultFiles(ServerTlsSettings ssl, Dictionary<string, ConfigEntry> seen, string file)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(file)) ?? "/";
        return ssl with
        {
            CertFile = seen.ContainsKey("ssl_cert_file") ? ssl.CertFile : Path.Combine(directory, ssl.CertFile),
            KeyFile = seen.ContainsKey("ssl_key_file") ? ssl.KeyFile : Path.Combine(directory, ssl.KeyFile),
        };
    }

    /// <summary>
    /// Authentication is the default: with neither heartbeat_secret_file nor heartbeat_sslrootcert
    /// set, the secret is heartbeat.secret in the conmgr directory (a copy of the watchdog's).
    /// Only an explicit <c>heartbeat_secret_file = none</c> leaves watchdogs unauthenticated (empty is unset).
    /// </summary>
    private static HeartbeatAuthSettings WithDefaultSecret(HeartbeatAuthSettings auth, Dictionary<string, ConfigEntry> seen, string file)
    {
        var none = seen.TryGetValue("heartbeat_secret_file", out var entry) && entry.Value == "none";
        if (none || auth.SecretFile is not null || auth.RootCert is not null)
        {
            return auth;
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(file)) ?? "/";
        return auth with { SecretFile = Path.Combine(directory, HeartbeatAuthSettings.DefaultSecretFile), SecretFileIsDefault = true };
    }

    /// <summary>A watchdog refuses a Hello asking for more than 1 h either way: refused here first, with the reason.</summary>
    private static void CheckHeartbeatBounds(ConMgrSettings settings, Dictionary<string, ConfigEntry> seen, string file)
    {
        foreach (var (name, value) in new[] { ("heartbeat_interval", settings.HeartbeatInterval), ("heartbeat_timeout", settings.HeartbeatTimeout) })
        {
            if (value > ConMgrSettings.MaxHeartbeatTime)
            {
                throw new ConfigException(file, seen.TryGetValue(name, out var entry) ? entry.Line : 0, name, $"is outside the valid range (10ms .. 1h): watchdogs refuse longer heartbeat times");
            }
        }
    }

    /// <summary>Combinations that cannot work are refused at load, not at the first connection.</summary>
    private static void CheckTlsCombinations(ConMgrSettings settings, Dictionary<string, ConfigEntry> seen, string file)
    {
        void Refuse(string name, string message) => throw new ConfigException(file, seen.TryGetValue(name, out var entry) ? entry.Line : 0, name, message);

        if (settings.Ssl.MaxProtocol != System.Security.Authentication.SslProtocols.None && settings.Ssl.MaxProtocol < settings.Ssl.MinProtocol)
        {
            Refuse("ssl_max_protocol_version", "is lower than ssl_min_protocol_version");
        }

        if (settings.BackendTls.Mode is BackendSslMode.VerifyCa or BackendSslMode.VerifyFull && settings.BackendTls.RootCert is null)
        {
            Refuse("backend_sslmode", "verify-ca and verify-full need backend_sslrootcert (a CA file, or 'system')");
        }

        if ((settings.BackendTls.Cert is null) != (settings.BackendTls.Key is null))
        {
            Refuse(settings.BackendTls.Cert is null ? "backend_sslkey" : "backend_sslcert", "backend_sslcert and backend_sslkey go together");
        }

        if ((settings.HeartbeatAuth.Cert is null) != (settings.HeartbeatAuth.Key is null))
        {
            Refuse(settings.HeartbeatAuth.Cert is null ? "heartbeat_sslkey" : "heartbeat_sslcert", "heartbeat_sslcert and heartbeat_sslkey go together");
        }

        if (settings.HeartbeatAuth.Cert is not null && settings.HeartbeatAuth.RootCert is null)
        {
            Refuse("heartbeat_sslcert", "needs heartbeat_sslrootcert: the heartbeat uses TLS only when conmgr can verify the watchdogs");
        }

        // A pooled server connection logged in as a role is handed to the next client of that role: conmgr must have checked who that client is.
        if (settings.Pool.Pooling && !settings.Preauth)
        {
            var name = seen.ContainsKey("read_write_server_pool_mode") ? "read_write_server_pool_mode" : seen.ContainsKey("read_only_server_pool_mode") ? "read_only_server_pool_mode" : "server_pool_mode";
            Refuse(name, "pooling (session or transaction) needs preauth = on: a pooled server connection goes to the next client of its role, so conmgr must authenticate every client itself");
        }

        // Role secrets come over the heartbeat link: only one that is encrypted and authenticated both ways may carry them.
        if (settings.Preauth && (settings.HeartbeatAuth.RootCert is null || settings.HeartbeatAuth.Cert is null))
        {
            Refuse("preauth", "preauth = on needs mutual TLS on the heartbeat (heartbeat_sslrootcert, heartbeat_sslcert and heartbeat_sslkey; watchdog.ssl_ca_file at the watchdogs): role secrets are looked up over that link, and a link authenticated by the shared secret alone is not encrypted");
        }
    }

    private static List<string> CollectWarnings(ConMgrSettings settings)
    {
        var warnings = new List<string>();
        if (settings.HeartbeatTimeout <= settings.HeartbeatInterval)
        {
            // The seed: no error at load, but heartbeat monitoring will always consider the link abnormal.
            warnings.Add($"heartbeat_timeout ({Format(settings.HeartbeatTimeout)}) is not greater than heartbeat_interval ({Format(settings.HeartbeatInterval)}): every heartbeat link will be considered down");
        }

        if (settings.Instances.Count == 0)
        {
            warnings.Add("no instance is configured (backend_hostN or backend_hostaddrN): conmgr has nothing to monitor");
        }

        return warnings;
    }

    /// <summary>Formats a time the way the configuration accepts it (whole seconds when exact).</summary>
    public static string Format(TimeSpan time) =>
        time.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)time.TotalSeconds}s" : $"{(long)time.TotalMilliseconds}ms";

    [GeneratedRegex("^(backend_hostaddr|backend_host|backend_port|watchdog_port)([0-9]+)$")]
    private static partial Regex NumberedParameter();

    private sealed class InstanceDraft(int firstLine)
    {
        public int FirstLine { get; } = firstLine;

        public string? Host { get; set; }

        public string? HostAddr { get; set; }

        public int? Port { get; set; }

        public int? WatchdogPort { get; set; }
    }
}
