// TlsParameterTests.cs: the TLS parameters of conmgr.conf: defaults, every value, file names relative to the conmgr directory, what is refused.
using System.Security.Authentication;
using ConMgr.Configuration;

namespace ConMgr.UnitTests.Configuration;

public sealed class TlsParameterTests
{
    private const string Host = "backend_host0 = 'db0'\n";
    private const string File = "/etc/conmgr/conmgr.conf";

    private static ConMgrSettings Load(string text) => ConMgrConfigLoader.Load(Host + text, File).Settings;

    private static ConfigException Refused(string text) => Assert.Throws<ConfigException>(() => Load(text));

    [Fact]
    public void Defaults_are_postgresqls_ssl_off_server_crt_and_key_in_the_conmgr_directory_tls_1_2_and_backend_prefer()
    {
        var s = Load(string.Empty);
        Assert.False(s.Ssl.Enabled);
        Assert.Equal("/etc/conmgr/server.crt", s.Ssl.CertFile);
        Assert.Equal("/etc/conmgr/server.key", s.Ssl.KeyFile);
        Assert.Null(s.Ssl.CaFile);
        Assert.Equal(SslProtocols.Tls12, s.Ssl.MinProtocol);
        Assert.Equal(SslProtocols.None, s.Ssl.MaxProtocol);
        Assert.Equal("HIGH:MEDIUM:+3DES:!aNULL", s.Ssl.Ciphers);
        Assert.Equal(BackendSslMode.Prefer, s.BackendTls.Mode);
        Assert.Null(s.BackendTls.RootCert);
        Assert.False(s.HeartbeatAuth.UsesTls);
    }

    [Fact]
    public void The_heartbeat_is_authenticated_by_default_with_heartbeat_secret_in_the_conmgr_directory_and_none_is_an_explicit_choice()
    {
        var byDefault = Load(string.Empty).HeartbeatAuth;
        Assert.Equal("/etc/conmgr/heartbeat.secret", byDefault.SecretFile);
        Assert.True(byDefault.SecretFileIsDefault);
        Assert.False(byDefault.Unauthenticated);

        // Empty is unset, as PostgreSQL's empty file parameters: still the default.
        Assert.Equal("/etc/conmgr/heartbeat.secret", Load("heartbeat_secret_file = ''").HeartbeatAuth.SecretFile);

        var named = Load("heartbeat_secret_file = 'keys/hb'").HeartbeatAuth;
        Assert.Equal("/etc/conmgr/keys/hb", named.SecretFile);
        Assert.False(named.SecretFileIsDefault);

        // TLS verify-full authenticates the watchdogs: no secret is asked for unless set.
        var tls = Load("heartbeat_sslrootcert = 'ca.crt'").HeartbeatAuth;
        Assert.Null(tls.SecretFile);
        Assert.False(tls.Unauthenticated);

        var none = Load("heartbeat_secret_file = none").HeartbeatAuth;
        Assert.Null(none.SecretFile);
        Assert.True(none.Unauthenticated);
    }

    [Theory]
    [InlineData("heartbeat_interval = 61min", "heartbeat_interval")]
    [InlineData("heartbeat_timeout = 1d", "heartbeat_timeout")]
    public void Heartbeat_times_longer_than_an_hour_are_refused_because_watchdogs_refuse_them(string line, string name)
    {
        var error = Assert.Throws<ConfigException>(() => Load(line));
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
        Assert.Contains("10ms .. 1h", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_tls_parameter_is_read_and_relative_file_names_are_taken_from_the_conmgr_directory()
    {
        var s = Load("""
            ssl = on
            ssl_cert_file = 'tls/conmgr.crt'
            ssl_key_file = '/keys/conmgr.key'
            ssl_ca_file = 'ca.crt'
            ssl_min_protocol_version = 'TLSv1.3'
            ssl_max_protocol_version = 'TLSv1.3'
            ssl_ciphers = 'TLS_AES_256_GCM_SHA384'
            backend_sslmode = verify-full
            backend_sslrootcert = 'servers.crt'
            backend_sslcert = 'client.crt'
            backend_sslkey = 'client.key'
            heartbeat_sslcert = 'hb.crt'
            heartbeat_sslkey = 'hb.key'
            heartbeat_sslrootcert = 'hb-ca.crt'
            heartbeat_secret_file = 'secret'
            """);
        Assert.True(s.Ssl.Enabled);
        Assert.Equal("/etc/conmgr/tls/conmgr.crt", s.Ssl.CertFile);
        Assert.Equal("/keys/conmgr.key", s.Ssl.KeyFile);
        Assert.Equal("/etc/conmgr/ca.crt", s.Ssl.CaFile);
        Assert.Equal(SslProtocols.Tls13, s.Ssl.MinProtocol);
        Assert.Equal(SslProtocols.Tls13, s.Ssl.MaxProtocol);
        Assert.Equal("TLS_AES_256_GCM_SHA384", s.Ssl.Ciphers);
        Assert.Equal(new BackendTlsSettings { Mode = BackendSslMode.VerifyFull, RootCert = "/etc/conmgr/servers.crt", Cert = "/etc/conmgr/client.crt", Key = "/etc/conmgr/client.key" }, s.BackendTls);
        Assert.Equal(new HeartbeatAuthSettings { Cert = "/etc/conmgr/hb.crt", Key = "/etc/conmgr/hb.key", RootCert = "/etc/conmgr/hb-ca.crt", SecretFile = "/etc/conmgr/secret" }, s.HeartbeatAuth);
        Assert.True(s.HeartbeatAuth.UsesTls);
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("TRUE", true)]
    [InlineData("yes", true)]
    [InlineData("1", true)]
    [InlineData("off", false)]
    [InlineData("false", false)]
    [InlineData("No", false)]
    [InlineData("0", false)]
    public void Ssl_takes_postgresqls_booleans(string value, bool expected) => Assert.Equal(expected, Load($"ssl = {value}\n").Ssl.Enabled);

    [Theory]
    [InlineData("disable", BackendSslMode.Disable)]
    [InlineData("allow", BackendSslMode.Allow)]
    [InlineData("prefer", BackendSslMode.Prefer)]
    [InlineData("require", BackendSslMode.Require)]
    [InlineData("verify-ca", BackendSslMode.VerifyCa)]
    [InlineData("VERIFY-FULL", BackendSslMode.VerifyFull)]
    public void Backend_sslmode_takes_libpqs_six_modes(string value, BackendSslMode expected) =>
        Assert.Equal(expected, Load($"backend_sslmode = {value}\nbackend_sslrootcert = system\n").BackendTls.Mode);

    [Fact]
    public void With_preauth_and_a_root_certificate_the_servers_are_verified_unless_backend_sslmode_says_otherwise()
    {
        const string Mtls = "preauth = on\nheartbeat_sslrootcert = 'ca.crt'\nheartbeat_sslcert = 'c.crt'\nheartbeat_sslkey = 'c.key'\nbackend_sslrootcert = 'ca.crt'\n";
        Assert.Equal(BackendSslMode.VerifyFull, Load(Mtls).BackendTls.Mode);
        Assert.Equal(BackendSslMode.Require, Load(Mtls + "backend_sslmode = require\n").BackendTls.Mode);
        Assert.Equal(BackendSslMode.Prefer, Load("backend_sslrootcert = 'ca.crt'\n").BackendTls.Mode);
    }

    [Fact]
    public void Backend_sslrootcert_system_means_the_systems_store() =>
        Assert.Equal("system", Load("backend_sslrootcert = system\n").BackendTls.RootCert);

    [Theory]
    [InlineData("ssl = maybe\n", "requires a Boolean value")]
    [InlineData("ssl_min_protocol_version = 'TLSv1'\n", "TLSv1 and TLSv1.1 are not supported")]
    [InlineData("ssl_min_protocol_version = 'TLSv1.1'\n", "TLSv1 and TLSv1.1 are not supported")]
    [InlineData("ssl_min_protocol_version = ''\n", "must be one of: TLSv1.2, TLSv1.3")]
    [InlineData("ssl_max_protocol_version = 'SSLv3'\n", "must be one of: TLSv1.2, TLSv1.3, or empty")]
    [InlineData("ssl_min_protocol_version = 'TLSv1.3'\nssl_max_protocol_version = 'TLSv1.2'\n", "is lower than ssl_min_protocol_version")]
    [InlineData("backend_sslmode = verify-full\n", "verify-ca and verify-full need backend_sslrootcert")]
    [InlineData("backend_sslmode = verify-ca\n", "verify-ca and verify-full need backend_sslrootcert")]
    [InlineData("backend_sslmode = sometimes\n", "must be one of")]
    [InlineData("backend_sslcert = 'c.crt'\n", "backend_sslcert and backend_sslkey go together")]
    [InlineData("heartbeat_sslkey = 'k.key'\n", "heartbeat_sslcert and heartbeat_sslkey go together")]
    [InlineData("heartbeat_sslcert = 'c.crt'\nheartbeat_sslkey = 'k.key'\n", "needs heartbeat_sslrootcert")]
    [InlineData("ssl_cert_file = ''\n", "must not be empty")]
    [InlineData("preauth = on\n", "preauth = on needs mutual TLS on the heartbeat")]
    [InlineData("preauth = on\nheartbeat_sslrootcert = 'ca.crt'\n", "preauth = on needs mutual TLS on the heartbeat")]
    [InlineData("preauth = on\nheartbeat_secret_file = 'heartbeat.secret'\n", "a link authenticated by the shared secret alone is not encrypted")]
    public void Impossible_values_and_combinations_are_refused_at_load(string text, string message) =>
        Assert.Contains(message, Refused(text).Message, StringComparison.Ordinal);

    [Fact]
    public void Tls_parameters_are_reloadable_and_ports_are_not()
    {
        foreach (var name in new[] { "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_ciphers", "backend_sslmode", "heartbeat_sslrootcert", "heartbeat_secret_file" })
        {
            Assert.Contains(name, (IReadOnlySet<string>)ConMgrConfigLoader.Reloadable);
        }

        Assert.DoesNotContain("read_write_port", (IReadOnlySet<string>)ConMgrConfigLoader.Reloadable);
        Assert.DoesNotContain("port", (IReadOnlySet<string>)ConMgrConfigLoader.Reloadable);
    }
}
