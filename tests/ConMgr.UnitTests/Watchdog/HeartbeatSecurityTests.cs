// HeartbeatSecurityTests.cs: what a new install's watchdog asks of its peers: a generated secret by default, none only when said, no CA borrowed from the server.
using ConMgr.Configuration;
using ConMgr.Hosting.Logging;
using ConMgr.UnitTests.Logging;
using ConMgr.Watchdog.Instance;

namespace ConMgr.UnitTests.Watchdog;

public sealed class HeartbeatSecurityTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hbsec").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Unset_means_heartbeat_secret_in_the_data_directory_generated_and_none_means_unauthenticated()
    {
        var byDefault = HeartbeatSecurity.From(null, null, null, null, null, "/data");
        Assert.Equal("/data/heartbeat.secret", byDefault.SecretFile);
        Assert.True(byDefault.GenerateSecret);
        Assert.True(byDefault.AuthenticationRequired);

        var named = HeartbeatSecurity.From(null, null, null, null, "/etc/hb.secret", "/data");
        Assert.Equal("/etc/hb.secret", named.SecretFile);
        Assert.False(named.GenerateSecret);

        var none = HeartbeatSecurity.From(null, null, null, null, "none", "/data");
        Assert.Null(none.SecretFile);
        Assert.False(none.AuthenticationRequired);
    }

    [Fact]
    public void Client_certificates_come_only_from_watchdog_ssl_ca_file_and_then_no_secret_is_generated()
    {
        // No CA named: no client certificates (the server's ssl_ca_file is not read for it), so the secret is the default.
        var tlsOnly = HeartbeatSecurity.From("require", "server.crt", "server.key", null, null, "/data");
        Assert.False(tlsOnly.ClientCertificates);
        Assert.True(tlsOnly.GenerateSecret);

        var certificates = HeartbeatSecurity.From("require", "server.crt", "server.key", "conmgr-ca.crt", null, "/data", "app1, app2");
        Assert.True(certificates.ClientCertificates);
        Assert.Equal("/data/conmgr-ca.crt", certificates.CaFile);
        Assert.Null(certificates.SecretFile);
        Assert.Equal(["app1", "app2"], certificates.ConmgrNames);

        var error = Assert.Throws<FormatException>(() => HeartbeatSecurity.From("on", null, null, null, null, "/data", "app1"));
        Assert.Contains("watchdog.conmgr_names is set but no client certificate is asked for", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_generated_secret_is_64_hex_characters_mode_0600_and_an_existing_file_or_symlink_is_never_written()
    {
        var sink = new RecordingSink();
        using var log = new ServerLog(MessageLevel.Log, [sink], TimeProvider.System);
        var file = Path.Combine(_directory, "heartbeat.secret");

        Assert.True(HeartbeatSecretFile.EnsureExists(file, log));
        var text = File.ReadAllText(file);
        Assert.Matches("^[0-9a-f]{64}\n$", text);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(64, Hosting.Tls.TlsFiles.LoadSecret(file).Length);

        // A second start keeps it: conmgr's copy stays valid.
        Assert.False(HeartbeatSecretFile.EnsureExists(file, log));
        Assert.Equal(text, File.ReadAllText(file));

        // A symlink planted where the secret goes is not followed: nothing is written to its target.
        var target = Path.Combine(_directory, "elsewhere");
        var planted = Path.Combine(_directory, "planted.secret");
        File.CreateSymbolicLink(planted, target);
        Assert.False(HeartbeatSecretFile.EnsureExists(planted, log));
        Assert.False(File.Exists(target));

        log.Flush();
        Assert.Single(sink.Lines, l => l.StartsWith($"generated the heartbeat secret file \"{file}\"", StringComparison.Ordinal));
    }
}
