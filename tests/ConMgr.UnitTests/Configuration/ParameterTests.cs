// ParameterTests.cs: each parameter's type, range, units and quoting; each error names file, line and parameter.
using ConMgr.Configuration;

namespace ConMgr.UnitTests.Configuration;

public sealed class ParameterTests
{
    private const string Host = "backend_host0 = 'db0'\n";

    private static ConMgrSettings Load(string text) => ConMgrConfigLoader.Load(Host + text, "conmgr.conf").Settings;

    [Fact]
    public void Every_parameter_is_read()
    {
        var s = Load("""
            port = 6000
            backend_hostaddr0 = '10.0.0.5'
            backend_port0 = 5433
            watchdog_port0 = 27000
            backend_hostaddr3 = '::1'
            heartbeat_interval = 3
            heartbeat_timeout = 7s
            heartbeat_connect_interval = 500ms
            heartbeat_connect_timeout = 2min
            log_destination = 'stderr,syslog'
            syslog_facility = LOCAL5
            syslog_ident = 'cm app'
            log_min_messages = log
            max_connections = 100
            listen_addresses = '127.0.0.1, ::1'
            read_write_port = 6432
            read_only_port = 6433
            http_port = 6434
            """);

        Assert.Equal(6000, s.Port);
        Assert.Equal(new InstanceSettings(0, "db0", "10.0.0.5", 5433, 27000), s.Instances[0]);
        Assert.Equal("10.0.0.5", s.Instances[0].Address);
        Assert.Equal(new InstanceSettings(3, null, "::1", 27500, 27545), s.Instances[1]);
        Assert.Equal(TimeSpan.FromSeconds(3), s.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(7), s.HeartbeatTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.HeartbeatConnectInterval);
        Assert.Equal(TimeSpan.FromMinutes(2), s.HeartbeatConnectTimeout);
        Assert.Equal(LogDestinations.Stderr | LogDestinations.Syslog, s.LogDestination);
        Assert.Equal(SyslogFacility.Local5, s.SyslogFacility);
        Assert.Equal("cm app", s.SyslogIdent);
        Assert.Equal(MessageLevel.Log, s.LogMinMessages);
        Assert.Equal(100, s.MaxConnections);
        Assert.Equal(["127.0.0.1", "::1"], s.ListenAddresses);
        Assert.Equal((6432, 6433, 6434), (s.ReadWritePort, s.ReadOnlyPort, s.HttpPort));
    }

    [Fact]
    public void Each_listener_may_have_its_own_listen_addresses_and_otherwise_takes_listen_addresses()
    {
        var s = Load("listen_addresses = '127.0.0.1'\nread_write_listen_addresses = '*'\nhttp_listen_addresses = '10.0.0.5, ::1'");
        Assert.Equal(["127.0.0.1"], s.ListenAddresses);
        Assert.Equal(["*"], s.ReadWriteListenAddresses);
        Assert.Null(s.ReadOnlyListenAddresses);
        Assert.Equal(["10.0.0.5", "::1"], s.HttpListenAddresses);
    }

    [Theory]
    [InlineData("heartbeat_interval = 200ms", 200)]
    [InlineData("heartbeat_interval = 2", 2000)]
    [InlineData("heartbeat_interval = '2 s'", 2000)]
    [InlineData("heartbeat_interval = '1min'", 60000)]
    [InlineData("heartbeat_interval = 1h", 3600000)]
    [InlineData("heartbeat_interval 15", 15000)]
    [InlineData("HEARTBEAT_INTERVAL = 10ms", 10)]
    public void Times_accept_postgresql_units_and_bare_seconds(string line, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Load(line).HeartbeatInterval);

    [Theory]
    [InlineData("syslog_ident = 'it''s'", "it's")]
    [InlineData("syslog_ident = 'it\\'s'", "it's")]
    [InlineData("syslog_ident = 'back\\\\slash'", "back\\slash")]
    [InlineData("syslog_ident = 'a # not a comment' # a comment", "a # not a comment")]
    [InlineData("syslog_ident=plain", "plain")]
    [InlineData("  syslog_ident   =   'spaced out'   ", "spaced out")]
    public void Strings_follow_postgresql_quoting(string line, string expected) =>
        Assert.Equal(expected, Load(line).SyslogIdent);

    [Theory]
    [InlineData("backend_host1 = '::1'", "::1")]
    [InlineData("backend_host1 = 'fe80::1:2'", "fe80::1:2")]
    [InlineData("backend_host1 = db-1.example.org", "db-1.example.org")]
    [InlineData("backend_hostaddr1 = '2001:db8::7'", "2001:db8::7")]
    public void Hosts_accept_names_and_ipv6_literals(string line, string expected) =>
        Assert.Equal(expected, Load(line).Instances[1].Address);

    [Theory]
    [InlineData("debug", MessageLevel.Debug)]
    [InlineData("INFO", MessageLevel.Info)]
    [InlineData("Notice", MessageLevel.Notice)]
    [InlineData("warning", MessageLevel.Warning)]
    [InlineData("error", MessageLevel.Error)]
    [InlineData("log", MessageLevel.Log)]
    [InlineData("fatal", MessageLevel.Fatal)]
    [InlineData("panic", MessageLevel.Panic)]
    public void Log_min_messages_takes_every_level(string value, MessageLevel expected) =>
        Assert.Equal(expected, Load($"log_min_messages = {value}").LogMinMessages);

    [Fact]
    public void Heartbeat_timeout_not_above_interval_loads_with_a_warning()
    {
        var result = ConMgrConfigLoader.Load(Host + "heartbeat_interval = 5\nheartbeat_timeout = 5\n", "conmgr.conf");

        Assert.Equal(TimeSpan.FromSeconds(5), result.Settings.HeartbeatTimeout);
        Assert.Contains(result.Warnings, w => w.StartsWith("heartbeat_timeout (5s) is not greater than heartbeat_interval (5s)", StringComparison.Ordinal));
    }

    public static TheoryData<string, int, string, string> Errors => new()
    {
        { "port = 0", 2, "port", "outside the valid range (1 .. 65535)" },
        { "port = 65536", 2, "port", "outside the valid range (1 .. 65535)" },
        { "port = 12ab", 2, "port", "must be a decimal integer" },
        { "port = 0x10", 2, "port", "must be a decimal integer" },
        { "backend_port0 = 70000", 2, "backend_port0", "outside the valid range (1 .. 65535)" },
        { "watchdog_port0 = -1", 2, "watchdog_port0", "outside the valid range (1 .. 65535)" },
        { "max_connections = -1", 2, "max_connections", "outside the valid range (0 .. 2147483647)" },
        { "heartbeat_interval = 0", 2, "heartbeat_interval", "outside the valid range (10ms .. 2147483647ms)" },
        { "heartbeat_timeout = 5ms", 2, "heartbeat_timeout", "outside the valid range" },
        { "heartbeat_connect_timeout = '5 weeks'", 2, "heartbeat_connect_timeout", "unknown unit" },
        { "heartbeat_connect_interval = 1.5s", 2, "heartbeat_connect_interval", "integer with an optional unit" },
        { "heartbeat_interval = 99999999999d", 2, "heartbeat_interval", "outside the valid range" },
        { "log_destination = 'stderr,eventlog'", 2, "log_destination", "comma-separated list of: stderr, syslog" },
        { "syslog_facility = LOCAL8", 2, "syslog_facility", "must be one of: LOCAL0" },
        { "syslog_facility = USER", 2, "syslog_facility", "must be one of" },
        { "log_min_messages = verbose", 2, "log_min_messages", "must be one of: DEBUG, INFO, NOTICE, WARNING, ERROR, LOG, FATAL, PANIC" },
        { "syslog_ident = ''", 2, "syslog_ident", "must not be empty" },
        { "backend_hostaddr1 = 'db.example.org'", 2, "backend_hostaddr1", "not a numeric IPv4 or IPv6 address" },
        { "backend_hostaddr1 = '1'", 2, "backend_hostaddr1", "not a numeric IPv4 or IPv6 address" },
        { "backend_host1 = 'bad host'", 2, "backend_host1", "not a valid host name" },
        { "backend_host01 = 'h'", 2, "backend_host01", "invalid instance number \"01\"" },
        { "backend_host1000 = 'h'", 2, "backend_host1000", "invalid instance number" },
        { "listen_addresses = ','", 2, "listen_addresses", "at least one address" },
        { "http_port = 27546", 2, "http_port", "port 27546 is already used by \"port\"" },
        { "no_such_parameter = 1", 2, "no_such_parameter", "unrecognized configuration parameter" },
        { "backend_hostx = 'h'", 2, "backend_hostx", "unrecognized configuration parameter" },
        { "backend_host0 = 'again'", 2, "backend_host0", "is set more than once (first on line 1)" },
        { "port = 1 2", 2, "port", "one value per line" },
        { "syslog_ident = 'open", 2, "syslog_ident", "unterminated quoted string" },
        { "port =", 2, "port", "missing value" },
        { "port = # comment", 2, "port", "missing value" },
        { "max_standby_lag = 16mb", 2, "max_standby_lag", "unknown unit: valid units are B, kB, MB, GB, TB (sizes) and ms, s, min, h, d (times)" },
        { "max_standby_lag = '1MB, 2MB'", 2, "max_standby_lag", "gives more than one size" },
        { "max_standby_lag = '1s, 2s'", 2, "max_standby_lag", "gives more than one time" },
        { "max_standby_lag = '1MB,'", 2, "max_standby_lag", "must be a size (e.g. 16MB), a time (e.g. 10s), or both" },
        { "max_standby_lag = -1", 2, "max_standby_lag", "must be a size" },
        { "max_standby_lag = 9000000TB", 2, "max_standby_lag", "is too large" },
        { "max_standby_lag = 99999999999d", 2, "max_standby_lag", "outside the valid range" },
    };

    [Theory]
    [InlineData("0", 0L, 0)]
    [InlineData("1048576", 1048576L, 0)]
    [InlineData("16MB", 16L << 20, 0)]
    [InlineData("'8 kB'", 8192L, 0)]
    [InlineData("1TB", 1L << 40, 0)]
    [InlineData("10s", 0L, 10_000)]
    [InlineData("'16MB, 500ms'", 16L << 20, 500)]
    [InlineData("'2min,1GB'", 1L << 30, 120_000)]
    public void Max_standby_lag_takes_a_size_a_time_or_both(string value, long bytes, int ms) =>
        Assert.Equal(new StandbyLagLimit(bytes, TimeSpan.FromMilliseconds(ms)), Load($"max_standby_lag = {value}\n").MaxStandbyLag);

    [Fact]
    public void Max_standby_lag_is_off_by_default() => Assert.True(Load(string.Empty).MaxStandbyLag.IsOff);

    [Theory]
    [MemberData(nameof(Errors))]
    public void Bad_values_are_errors_naming_file_line_and_parameter(string line, int lineNumber, string parameter, string problem)
    {
        var error = Assert.Throws<ConfigException>(() => ConMgrConfigLoader.Load(Host + line + "\n", "/cm/conmgr.conf"));

        Assert.Equal(lineNumber, error.Line);
        Assert.Equal(parameter, error.Parameter);
        Assert.StartsWith($"/cm/conmgr.conf:{lineNumber}: parameter \"{parameter}\": ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Syntax_error_without_a_name_names_the_line()
    {
        var error = Assert.Throws<ConfigException>(() => ConMgrConfigLoader.Load("# header\n= 5\n", "conmgr.conf"));

        Assert.Equal(2, error.Line);
        Assert.StartsWith("conmgr.conf:2: syntax error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlong_line_is_an_error()
    {
        var text = "syslog_ident = '" + new string('x', ConfigFileSyntax.MaxLineLength) + "'\n";

        var error = Assert.Throws<ConfigException>(() => ConMgrConfigLoader.Load(text, "conmgr.conf"));

        Assert.Contains("longer than 8192 characters", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_an_error_naming_the_file()
    {
        var error = Assert.Throws<ConfigException>(() => ConMgrConfigLoader.LoadFile("/nonexistent/conmgr.conf"));

        Assert.StartsWith("/nonexistent/conmgr.conf: could not read configuration file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Crlf_line_endings_are_accepted()
    {
        var settings = ConMgrConfigLoader.Load("backend_host0 = 'h'\r\nport = 7000\r\n", "conmgr.conf").Settings;

        Assert.Equal(7000, settings.Port);
    }
}
