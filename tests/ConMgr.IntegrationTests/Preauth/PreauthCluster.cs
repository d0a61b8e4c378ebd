// PreauthCluster.cs: a cluster whose conmgr authenticates proxy clients itself: mutual TLS on the heartbeat, conmgr_hba.conf, SCRAM roles the server checks too.
using System.Globalization;
using ConMgr.IntegrationTests.Tls;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Preauth;

/// <summary>
/// preauth = on needs the heartbeat over mutual TLS (watchdog.ssl = require with
/// watchdog.ssl_ca_file, conmgr's client certificate). conmgr's proxy ports have TLS too (ssl = on,
/// a certificate for localhost from the test CA), so a client can bind to conmgr's certificate.
/// The primary's pg_hba.conf asks the test roles for scram-sha-256 from 127.0.0.1, so every
/// login conmgr makes for them is a real SCRAM login with the key it recovered.
/// </summary>
public sealed class PreauthCluster : IAsyncDisposable
{
    /// <summary>The password of every test role.</summary>
    public const string Password = "correct horse";

    /// <summary>Roles with <see cref="Password"/> as a SCRAM secret, asked for SCRAM by the server (app_md5 has an md5 hash, and the server asks it for md5).</summary>
    public const string Roles = "app, app_nologin, app_member, app_other";

    private PreauthCluster(TlsCluster tls, HeartbeatAuthSetup auth, string hbaFile)
    {
        Tls = tls;
        Auth = auth;
        HbaFile = hbaFile;
    }

    public TlsCluster Tls { get; }

    public HeartbeatAuthSetup Auth { get; }

    public string HbaFile { get; }

    public TransparentCluster Cluster => Tls.Cluster;

    public PgInstance Primary => Tls.Cluster.Cluster.Primary;

    public int ReadWritePort => Tls.ReadWritePort;

    public int ReadOnlyPort => Tls.ReadOnlyPort;

    /// <param name="hba">conmgr_hba.conf's text.</param>
    /// <param name="conmgrLines">More conmgr.conf lines (backend_sslmode, preauth_lookup_timeout).</param>
    /// <param name="watchdogTls">The watchdog's heartbeat settings (default: TLS required, conmgr certificates required).</param>
    /// <param name="prepare">Runs on the proxy ports' PKI before conmgr starts (more certificates, files); returns more conmgr.conf lines.</param>
    /// <param name="extraHeartbeat">conmgr also holds the shared secret (for a watchdog that asks for it instead of a certificate).</param>
    /// <param name="serverTls">The primary gets TLS with its own certificate (another than conmgr's).</param>
    public static async Task<PreauthCluster> StartAsync(string hba, string conmgrLines = "", int standbys = 0, Func<HeartbeatAuthSetup, string[]>? watchdogTls = null, bool serverTls = false, string[]? serverSettings = null, bool extraHeartbeat = false, Func<TestPki, string>? prepare = null)
    {
        var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        try
        {
            string? hbaFile = null;
            var tls = await TlsCluster.StartAsync(
                $"preauth = on\n{auth.ConmgrTls()}{(extraHeartbeat ? auth.ConmgrSecret() : string.Empty)}{conmgrLines}\n",
                standbys,
                prepare: async pki =>
                {
                    hbaFile = Path.Combine(pki.Directory, "conmgr_hba.conf");
                    await File.WriteAllTextAsync(hbaFile, hba);
                    return $"hba_file = '{hbaFile}'\n" + (prepare?.Invoke(pki) ?? string.Empty);
                },
                serverSettings: [.. (watchdogTls ?? (a => a.WatchdogTls()))(auth), .. serverSettings ?? []]);
            var cluster = new PreauthCluster(tls, auth, hbaFile!);
            try
            {
                await cluster.CreateRolesAsync(serverTls);
                return cluster;
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }
        catch
        {
            auth.Dispose();
            throw;
        }
    }

    /// <summary>psql through <paramref name="port"/> as <paramref name="user"/> with <paramref name="password"/>: current_user and whether conmgr's server connection is TLS, or psql's error output.</summary>
    public static Task<ProcessResult> PsqlAsync(int port, string user, string? password = Password, string options = "sslmode=disable", string sql = "select current_user, coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false)")
    {
        var environment = new Dictionary<string, string>();
        if (password is not null)
        {
            environment["PGPASSWORD"] = password;
        }

        return TlsCluster.PsqlAsync($"host=localhost port={port.ToString(CultureInfo.InvariantCulture)} user={user} dbname=postgres connect_timeout=10 {options}", sql, environment);
    }

    /// <summary>psql straight to the primary, for the server's own answer to compare with.</summary>
    public Task<ProcessResult> DirectAsync(string user, string? password) => PsqlAsync(Primary.Port, user, password, "sslmode=disable", "select current_user");

    /// <summary>libpq options for TLS to conmgr, verified against the test CA.</summary>
    public string VerifiedTls(string channelBinding) => $"sslmode=verify-full sslrootcert={Tls.Pki.CaFile} channel_binding={channelBinding}";

    /// <summary>Client backends on the primary now (a refused login must not add one).</summary>
    public Task<long> BackendsAsync() => Primary.ScalarAsync<long>("select count(*) from pg_stat_activity where backend_type = 'client backend'");

    public async ValueTask DisposeAsync()
    {
        await Tls.DisposeAsync();
        Auth.Dispose();
    }

    private async Task CreateRolesAsync(bool serverTls)
    {
        await Primary.ExecuteAsync(
            $"""
            set password_encryption = 'scram-sha-256';
            create role app login password '{Password}';
            create role app_nologin nologin password '{Password}';
            create role app_group nologin;
            create role app_member login password '{Password}' in role app_group;
            create role app_other login password '{Password}';
            alter role postgres password '{Password}';
            set password_encryption = 'md5';
            create role app_md5 login password '{Password}';
            """);
        var hba = $"host all app_md5 127.0.0.1/32 md5\nhost all {Roles.Replace(" ", string.Empty, StringComparison.Ordinal)} 127.0.0.1/32 scram-sha-256\n";
        if (serverTls)
        {
            await Tls.EnableServerTlsAsync(Primary, ["localhost", "127.0.0.1"], hbaLines: hba);
            return;
        }

        // Every instance: a standby's pg_hba.conf is its own file, copied before these lines existed.
        foreach (var instance in Cluster.Cluster.Instances)
        {
            var file = Path.Combine(instance.DataDirectory, "pg_hba.conf");
            await File.WriteAllTextAsync(file, hba + await File.ReadAllTextAsync(file));
            Assert.True(await instance.ScalarAsync<bool>("select pg_reload_conf()"));
            await Poll.UntilAsync(async () => (await PsqlAsync(instance.Port, "app", "wrong", "sslmode=disable", "select 1")).Output.Contains("password authentication failed", StringComparison.Ordinal), TransparentCluster.Deadline, $"{instance.Name} to ask app for its password");
        }
    }
}
