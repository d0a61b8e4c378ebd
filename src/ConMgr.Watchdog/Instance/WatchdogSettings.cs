// WatchdogSettings.cs: the watchdog.* parameters, read from the instance with current_setting(name, true).
using System.Globalization;
using Npgsql;

namespace ConMgr.Watchdog.Instance;

/// <summary>
/// The seed's postgresql.conf parameters (2.2.1) and ConMgr's addition. Read once at start:
/// every one of them needs an instance restart, as the seed says.
/// </summary>
/// <param name="HttpPort">watchdog.http_port: Patroni's health paths and the watchdog's metrics (docs/http.md); 0 = off.</param>
/// <param name="Security">watchdog.ssl and its files, watchdog.secret_file: how heartbeat peers are authenticated.</param>
public sealed record WatchdogSettings(int Port, TimeSpan CheckAttrInterval, int MaxHeartbeatConnections, TimeSpan HelloTimeout, IReadOnlyList<string> ListenAddresses, int HttpPort = 0, HeartbeatSecurity? Security = null, int MaxConnectionsPerAddress = WatchdogSettings.DefaultMaxConnectionsPerAddress, Auth.AuthLookupPolicy? AuthLookup = null)
{
    public const int DefaultPort = 27545;

    /// <summary>watchdog.max_connections_per_address's default: a host runs one conmgr, or a few.</summary>
    public const int DefaultMaxConnectionsPerAddress = 16;
    public static readonly TimeSpan DefaultCheckAttrInterval = TimeSpan.FromMilliseconds(1000);
    public static readonly TimeSpan DefaultHelloTimeout = TimeSpan.FromMilliseconds(10000);

    public static async Task<WatchdogSettings> ReadAsync(NpgsqlConnection connection, int? portOverride, int? httpPortOverride = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var command = new NpgsqlCommand(
            """
            select current_setting('watchdog.port', true),
                   current_setting('watchdog.check_attr_interval', true),
                   current_setting('watchdog.max_heartbeat_connections', true),
                   current_setting('watchdog.hello_timeout', true),
                   current_setting('max_connections'),
                   current_setting('listen_addresses'),
                   current_setting('watchdog.http_port', true),
                   current_setting('watchdog.ssl', true),
                   current_setting('watchdog.ssl_cert_file', true),
                   current_setting('watchdog.ssl_key_file', true),
                   current_setting('watchdog.ssl_ca_file', true),
                   current_setting('watchdog.secret_file', true),
                   current_setting('ssl_cert_file'),
                   current_setting('ssl_key_file'),
                   current_setting('watchdog.conmgr_names', true),
                   current_setting('data_directory'),
                   current_setting('watchdog.max_connections_per_address', true),
                   current_setting('watchdog.auth_lookup_roles', true),
                   current_setting('watchdog.auth_lookup_superuser', true),
                   current_setting('watchdog.auth_lookup_md5', true)
            """,
            connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        string? Text(int i) => reader.IsDBNull(i) || reader.GetString(i).Length == 0 ? null : reader.GetString(i);

        var port = portOverride ?? Number(Text(0), "watchdog.port", DefaultPort, 1, 65535);
        var interval = Number(Text(1), "watchdog.check_attr_interval", (int)DefaultCheckAttrInterval.TotalMilliseconds, 1, int.MaxValue);
        var maxConnections = Number(Text(4), "max_connections", 100, 1, int.MaxValue);
        var maxHeartbeat = Number(Text(2), "watchdog.max_heartbeat_connections", -1, -1, int.MaxValue);
        var hello = Number(Text(3), "watchdog.hello_timeout", (int)DefaultHelloTimeout.TotalMilliseconds, 1, int.MaxValue);
        var http = httpPortOverride ?? Number(Text(6), "watchdog.http_port", 0, 0, 65535);
        var listen = (Text(5) ?? "localhost").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        // watchdog.ssl_ca_file has no fallback to the server's ssl_ca_file (HeartbeatSecurity).
        var security = HeartbeatSecurity.From(Text(7), Text(8) ?? Text(12), Text(9) ?? Text(13), Text(10), Text(11), Text(15) ?? ".", Text(14));
        var perAddress = Number(Text(16), "watchdog.max_connections_per_address", DefaultMaxConnectionsPerAddress, -1, int.MaxValue);
        var lookup = new Auth.AuthLookupPolicy(
            Auth.AuthLookupPolicy.ParseRoles(Text(17)),
            Boolean(Text(18), "watchdog.auth_lookup_superuser"),
            Boolean(Text(19), "watchdog.auth_lookup_md5"));
        return new WatchdogSettings(
            port,
            TimeSpan.FromMilliseconds(interval),
            maxHeartbeat < 0 ? maxConnections : maxHeartbeat,
            TimeSpan.FromMilliseconds(hello),
            listen,
            http,
            security,
            perAddress,
            lookup);
    }

    /// <summary>PostgreSQL's boolean spellings (parse_bool), unambiguous prefixes included.</summary>
    private static bool Boolean(string? text, string name)
    {
        var value = (text ?? "off").Trim().ToLowerInvariant();
        return value switch
        {
            "on" or "1" => true,
            "of" or "off" or "0" => false,
            _ when value.Length > 0 && "true".StartsWith(value, StringComparison.Ordinal) => true,
            _ when value.Length > 0 && "false".StartsWith(value, StringComparison.Ordinal) => false,
            _ when value.Length > 0 && "yes".StartsWith(value, StringComparison.Ordinal) => true,
            _ when value.Length > 0 && "no".StartsWith(value, StringComparison.Ordinal) => false,
            _ => throw new FormatException($"parameter \"{name}\" requires a Boolean value (\"{text}\")"),
        };
    }

    private static int Number(string? text, string name, int fallback, int min, int max)
    {
        if (text is null)
        {
            return fallback;
        }

        // The launcher library defines these as plain integers (milliseconds for times); without the
        // library they are placeholders holding whatever was written, so accept ms, s and min too.
        var (digits, scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 1L),
            _ when text.EndsWith("min", StringComparison.Ordinal) => (text[..^3], 60_000L),
            _ when text.EndsWith('s') => (text[..^1], 1000L),
            _ => (text, 1L),
        };
        // raw is bounded before it is scaled: "9223372036854775807min" must not wrap into range.
        if (!long.TryParse(digits.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var raw) || raw > int.MaxValue || raw < int.MinValue || raw * scale < min || raw * scale > max)
        {
            throw new FormatException($"invalid value for parameter \"{name}\": \"{text}\" (must be an integer between {min} and {max})");
        }

        return (int)(raw * scale);
    }
}
