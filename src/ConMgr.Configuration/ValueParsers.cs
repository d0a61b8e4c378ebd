// ValueParsers.cs: typing of raw configuration values (integer, time with units, enum, lists).
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace ConMgr.Configuration;

/// <summary>
/// Converts the text of a <see cref="ConfigEntry"/> into a typed value or throws a
/// <see cref="ConfigException"/> that names file, line and parameter.
/// </summary>
public static partial class ValueParsers
{
    /// <summary>Smallest heartbeat-related time accepted when a unit is given.</summary>
    public static readonly TimeSpan MinTime = TimeSpan.FromMilliseconds(10);

    /// <summary>Largest time accepted: PostgreSQL's INT_MAX milliseconds (about 24.8 days).</summary>
    public static readonly TimeSpan MaxTime = TimeSpan.FromMilliseconds(int.MaxValue);

    public static int Number(ConfigEntry entry, string file, long min, long max)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var text = entry.Value.Trim();
        if (!DecimalInteger().IsMatch(text)
            || !long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            throw Invalid(entry, file, "must be a decimal integer");
        }

        if (value < min || value > max)
        {
            throw Invalid(entry, file, $"is outside the valid range ({min} .. {max})");
        }

        return (int)value;
    }

    /// <summary>
    /// A time: a bare integer means seconds (the seed's unit); PostgreSQL units ms, s, min, h, d
    /// are accepted, with or without a space (<c>500ms</c>, <c>2 s</c>, <c>1min</c>).
    /// </summary>
    public static TimeSpan Time(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var match = TimeWithUnit().Match(entry.Value.Trim());
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            throw Invalid(entry, file, "must be an integer with an optional unit (ms, s, min, h, d); a bare integer means seconds");
        }

        var unitMs = match.Groups[2].Value switch
        {
            "ms" => 1L,
            "" or "s" => 1000L,
            "min" => 60_000L,
            "h" => 3_600_000L,
            "d" => 86_400_000L,
            _ => throw Invalid(entry, file, "unknown unit: valid units are ms, s, min, h and d"),
        };

        var ms = amount > int.MaxValue ? long.MaxValue : amount * unitMs;
        if (ms < MinTime.TotalMilliseconds || ms > MaxTime.TotalMilliseconds)
        {
            throw Invalid(entry, file, $"is outside the valid range (10ms .. {int.MaxValue}ms)");
        }

        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>A time where <c>0</c> (with or without a unit) means off, as PgBouncer's timeouts: otherwise as <see cref="Time"/>.</summary>
    public static TimeSpan TimeOrOff(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return ZeroTime().IsMatch(entry.Value.Trim()) ? TimeSpan.Zero : Time(entry, file);
    }

    /// <summary>
    /// <c>max_standby_lag</c>: up to one size and one time, comma-separated. A size is an integer with
    /// PostgreSQL's memory units (B, kB, MB, GB, TB; 1 kB = 1024 B; a bare integer means bytes); a time
    /// has ms, s, min, h or d. <c>0</c> is off.
    /// </summary>
    public static StandbyLagLimit StandbyLag(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var limit = StandbyLagLimit.Off;
        bool sawSize = false, sawTime = false;
        foreach (var part in entry.Value.Split(',', StringSplitOptions.TrimEntries))
        {
            var match = TimeWithUnit().Match(part);
            if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
            {
                throw Invalid(entry, file, "must be a size (e.g. 16MB), a time (e.g. 10s), or both separated by a comma");
            }

            var sizeUnit = SizeUnit(match.Groups[2].Value);
            long? timeUnitMs = match.Groups[2].Value switch
            {
                "ms" => 1L,
                "s" => 1000L,
                "min" => 60_000L,
                "h" => 3_600_000L,
                "d" => 86_400_000L,
                _ => null,
            };
            if (sizeUnit is { } unit)
            {
                if (sawSize || amount > long.MaxValue / unit)
                {
                    throw Invalid(entry, file, sawSize ? "gives more than one size" : "is too large");
                }

                sawSize = true;
                limit = limit with { Bytes = amount * unit };
            }
            else if (timeUnitMs is { } ms)
            {
                if (sawTime || amount > MaxTime.TotalMilliseconds / ms)
                {
                    throw Invalid(entry, file, sawTime ? "gives more than one time" : $"is outside the valid range (0 .. {int.MaxValue}ms)");
                }

                sawTime = true;
                limit = limit with { Time = TimeSpan.FromMilliseconds(amount * ms) };
            }
            else
            {
                throw Invalid(entry, file, "unknown unit: valid units are B, kB, MB, GB, TB (sizes) and ms, s, min, h, d (times)");
            }
        }

        return limit;
    }

    /// <summary>
    /// A size as Patroni's <c>?lag=</c> and PostgreSQL's memory settings write it: an integer with
    /// an optional unit B, kB, MB, GB or TB (1 kB = 1024 B); false when it does not parse or overflows.
    /// </summary>
    public static bool TryParseSize(string? text, out long bytes)
    {
        bytes = 0;
        var match = TimeWithUnit().Match(text?.Trim() ?? string.Empty);
        if (!match.Success
            || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount)
            || SizeUnit(match.Groups[2].Value) is not { } unit
            || amount > long.MaxValue / unit)
        {
            return false;
        }

        bytes = amount * unit;
        return true;
    }

    private static long? SizeUnit(string unit) => unit switch
    {
        "" or "B" => 1L,
        "kB" => 1L << 10,
        "MB" => 1L << 20,
        "GB" => 1L << 30,
        "TB" => 1L << 40,
        _ => null,
    };

    public static TEnum Enum<TEnum>(ConfigEntry entry, string file, IReadOnlyDictionary<string, TEnum> values)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(values);
        if (values.TryGetValue(entry.Value.Trim().ToUpperInvariant(), out var value))
        {
            return value;
        }

        throw Invalid(entry, file, $"must be one of: {string.Join(", ", values.OrderBy(p => p.Value).Select(p => p.Key))}");
    }

    public static LogDestinations LogDestination(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var result = LogDestinations.None;
        foreach (var part in entry.Value.Split(',', StringSplitOptions.TrimEntries))
        {
            result |= part.ToLowerInvariant() switch
            {
                "stderr" => LogDestinations.Stderr,
                "syslog" => LogDestinations.Syslog,
                _ => throw Invalid(entry, file, "must be a comma-separated list of: stderr, syslog"),
            };
        }

        return result;
    }

    /// <summary>PostgreSQL's booleans: on, off, true, false, yes, no, 1, 0 (any case).</summary>
    public static bool Boolean(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.Value.Trim().ToLowerInvariant() switch
        {
            "on" or "true" or "yes" or "1" => true,
            "off" or "false" or "no" or "0" => false,
            _ => throw Invalid(entry, file, "requires a Boolean value (on, off, true, false, yes, no, 1, 0)"),
        };
    }

    /// <summary>A file name; a relative one is taken from the directory of <paramref name="file"/> (the conmgr directory).</summary>
    public static string FilePath(ConfigEntry entry, string file)
    {
        var text = Text(entry, file, 4096);
        var directory = Path.GetDirectoryName(Path.GetFullPath(file)) ?? "/";
        return Path.GetFullPath(Path.Combine(directory, text));
    }

    /// <summary>As <see cref="FilePath"/>, but an empty value means none (null), as PostgreSQL's empty ssl_ca_file.</summary>
    public static string? OptionalFilePath(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.Value.Length == 0 ? null : FilePath(entry, file);
    }

    /// <summary>
    /// ssl_min_protocol_version and ssl_max_protocol_version: <c>TLSv1.2</c> or <c>TLSv1.3</c>
    /// (TLSv1 and TLSv1.1 are refused: .NET and OpenSSL 3 no longer offer them by default); the
    /// empty value (max only) means no bound.
    /// </summary>
    public static System.Security.Authentication.SslProtocols TlsVersion(ConfigEntry entry, string file, bool allowEmpty)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.Value.Trim() switch
        {
            "TLSv1.2" => System.Security.Authentication.SslProtocols.Tls12,
            "TLSv1.3" => System.Security.Authentication.SslProtocols.Tls13,
            "" when allowEmpty => System.Security.Authentication.SslProtocols.None,
            "TLSv1" or "TLSv1.1" => throw Invalid(entry, file, "TLSv1 and TLSv1.1 are not supported: use TLSv1.2 or TLSv1.3"),
            _ => throw Invalid(entry, file, allowEmpty ? "must be one of: TLSv1.2, TLSv1.3, or empty" : "must be one of: TLSv1.2, TLSv1.3"),
        };
    }

    /// <summary>A non-empty string without control characters, at most <paramref name="maxLength"/> long.</summary>
    public static string Text(ConfigEntry entry, string file, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Value.Length == 0)
        {
            throw Invalid(entry, file, "must not be empty");
        }

        if (entry.Value.Length > maxLength || entry.Value.Any(char.IsControl))
        {
            throw Invalid(entry, file, $"must be at most {maxLength} printable characters");
        }

        return entry.Value;
    }

    /// <summary>A host name or IP address literal (IPv6 without brackets).</summary>
    public static string HostName(ConfigEntry entry, string file)
    {
        var text = Text(entry, file, 253);
        if (IsIpLiteral(text) || HostNamePattern().IsMatch(text))
        {
            return text;
        }

        throw Invalid(entry, file, "is not a valid host name or IP address");
    }

    /// <summary>An IP address literal; no name resolution (backend_hostaddrN).</summary>
    public static string IpAddress(ConfigEntry entry, string file)
    {
        var text = Text(entry, file, 64);
        if (IsIpLiteral(text))
        {
            return text;
        }

        throw Invalid(entry, file, "is not a numeric IPv4 or IPv6 address");
    }

    /// <summary><c>listen_addresses</c>: comma-separated host names or IP literals, or <c>*</c> for all.</summary>
    public static IReadOnlyList<string> ListenAddresses(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var parts = entry.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw Invalid(entry, file, "must name at least one address (or '*' for all)");
        }

        foreach (var part in parts)
        {
            if (part != "*" && !IsIpLiteral(part) && !HostNamePattern().IsMatch(part))
            {
                throw Invalid(entry, file, $"\"{part}\" is not a valid host name or IP address");
            }
        }

        return parts;
    }

    /// <summary>
    /// unix_socket_directories: comma-separated absolute directories, each short enough that
    /// <c>dir/.s.PGSQL.65535</c> fits a socket address (107 bytes on Linux). Empty: no socket.
    /// </summary>
    public static IReadOnlyList<string> SocketDirectories(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var parts = entry.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var part in parts)
        {
            if (!part.StartsWith('/'))
            {
                throw Invalid(entry, file, $"\"{part}\" is not an absolute path");
            }

            if (System.Text.Encoding.UTF8.GetByteCount(part) + "/.s.PGSQL.65535".Length > MaxSocketPathBytes)
            {
                throw Invalid(entry, file, $"Unix-domain socket path \"{part}/.s.PGSQL.<port>\" is too long (maximum {MaxSocketPathBytes} bytes)");
            }
        }

        return parts.Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The longest socket path Linux takes (sun_path is 108 bytes with its terminator).</summary>
    public const int MaxSocketPathBytes = 107;

    /// <summary>A file mode as PostgreSQL's integer parameters read it: a leading 0 means octal (0777, 0770), else decimal; 0 .. 0777.</summary>
    public static int FileMode(ConfigEntry entry, string file)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var text = entry.Value.Trim();
        int value;
        try
        {
            value = text.Length > 1 && text[0] == '0' ? Convert.ToInt32(text, 8) : int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            throw Invalid(entry, file, "must be a file mode (octal with a leading 0, e.g. 0770)");
        }

        return value is >= 0 and <= 511 ? value : throw Invalid(entry, file, "is outside the valid range (0000 .. 0777)");
    }

    /// <summary>
    /// True for a numeric IPv4 (four dotted parts) or IPv6 address. Stricter than
    /// <see cref="IPAddress.TryParse(string, out IPAddress)"/>, which also takes "1" as 0.0.0.1.
    /// </summary>
    public static bool IsIpLiteral(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!IPAddress.TryParse(text, out var address))
        {
            return false;
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 ? text.Contains(':', StringComparison.Ordinal) : DottedQuad().IsMatch(text);
    }

    private static ConfigException Invalid(ConfigEntry entry, string file, string problem) =>
        new(file, entry.Line, entry.Name, $"invalid value \"{entry.Value}\": {problem}");

    [GeneratedRegex(@"^[+-]?[0-9]+$")]
    private static partial Regex DecimalInteger();

    [GeneratedRegex(@"^([0-9]+)\s*([A-Za-z]*)$")]
    private static partial Regex TimeWithUnit();

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")]
    private static partial Regex DottedQuad();

    [GeneratedRegex(@"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")]
    private static partial Regex HostNamePattern();

    [GeneratedRegex("^0+ *(ms|s|min|h|d)?$")]
    private static partial Regex ZeroTime();
}
