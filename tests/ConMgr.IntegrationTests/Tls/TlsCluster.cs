// TlsCluster.cs: a proxy cluster with a test CA: conmgr's proxy ports with TLS, and helpers to turn TLS on in the servers.
using System.Globalization;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Tls;

/// <summary>
/// What the TLS tests share: a CA made for the test, conmgr's certificate for <c>localhost</c> and
/// <c>127.0.0.1</c>, and the cluster. The PKI directory lives under the test root and goes with the cluster.
/// </summary>
public sealed class TlsCluster : IAsyncDisposable
{
    private TlsCluster(TestPki pki, CertificateFiles conmgr, TransparentCluster cluster, int readWritePort, int readOnlyPort)
    {
        Pki = pki;
        ConMgrCertificate = conmgr;
        Cluster = cluster;
        ReadWritePort = readWritePort;
        ReadOnlyPort = readOnlyPort;
    }

    public TestPki Pki { get; }

    public CertificateFiles ConMgrCertificate { get; }

    public TransparentCluster Cluster { get; }

    public int ReadWritePort { get; }

    public int ReadOnlyPort { get; }

    public IEnumerable<int> ProxyPorts => [ReadWritePort, ReadOnlyPort];

    /// <summary>
    /// A cluster whose conmgr has <c>ssl = on</c> with a certificate from a new CA;
    /// <paramref name="conmgrLines"/> may add to conmgr.conf (it must not set the ssl_* files);
    /// <paramref name="prepare"/> runs on the PKI before conmgr starts (more certificates, files).
    /// </summary>
    public static async Task<TlsCluster> StartAsync(string conmgrLines = "", int standbys = 1, bool ssl = true, Func<TestPki, Task<string>>? prepare = null, IReadOnlyList<string>? serverSettings = null)
    {
        var pki = TestPki.CreateTemporary();
        try
        {
            var conmgr = pki.Issue("conmgr", "localhost", ["localhost", "127.0.0.1"]);
            var extra = prepare is null ? string.Empty : await prepare(pki);
            await pki.ChownAsync();
            var lines = $"ssl = {(ssl ? "on" : "off")}\nssl_cert_file = '{conmgr.Cert}'\nssl_key_file = '{conmgr.Key}'\n{conmgrLines}\n{extra}\n";
            var (cluster, rw, ro) = await ProxyCluster.StartAsync(standbys, lines, serverSettings: serverSettings);
            return new TlsCluster(pki, conmgr, cluster, rw, ro);
        }
        catch
        {
            pki.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Turns TLS on in <paramref name="instance"/> with a certificate from this CA for
    /// <paramref name="names"/> (ssl is reloadable), and lets <paramref name="tlsOnlyUser"/>, when
    /// given, in only over TLS (hostssl; hostnossl rejects it), before every other rule.
    /// </summary>
    public async Task<CertificateFiles> EnableServerTlsAsync(PgInstance instance, string[] names, string? tlsOnlyUser = null, CertificateFiles? certificate = null, string hbaLines = "")
    {
        ArgumentNullException.ThrowIfNull(instance);
        var files = certificate ?? Pki.Issue(instance.Name + "-server", names[0], names);
        await Pki.ChownAsync();
        var hba = Path.Combine(instance.DataDirectory, "pg_hba.conf");
        var rules = hbaLines + (tlsOnlyUser is null ? string.Empty : $"hostssl all {tlsOnlyUser} 127.0.0.1/32 trust\nhostnossl all {tlsOnlyUser} 127.0.0.1/32 reject\n");
        await File.WriteAllTextAsync(hba, rules + await File.ReadAllTextAsync(hba));
        await instance.ExecuteAsync($"alter system set ssl_cert_file = '{files.Cert}'; alter system set ssl_key_file = '{files.Key}'; alter system set ssl_ca_file = '{Pki.CaFile}'; alter system set ssl = on");
        Assert.True(await instance.ScalarAsync<bool>("select pg_reload_conf()"));
        await Poll.UntilAsync(async () => await instance.ScalarAsync<string>("show ssl") == "on", TransparentCluster.Deadline, $"ssl = on in {instance.Name}");
        return files;
    }

    /// <summary>A libpq connection string to a proxy port (the host is <paramref name="host"/>, 127.0.0.1 by default).</summary>
    public static string Libpq(int port, string options, string host = "127.0.0.1") =>
        $"host={host} port={port.ToString(CultureInfo.InvariantCulture)} user=postgres dbname=postgres connect_timeout=10 {options}";

    /// <summary>psql -X -At -c <paramref name="sql"/> with <paramref name="connection"/> as the postgres OS user; its whole output.</summary>
    public static Task<ProcessResult> PsqlAsync(string connection, string sql, IReadOnlyDictionary<string, string>? environment = null) =>
        ProcessRunner.RunAsync("psql", ["-X", "-At", "-d", connection, "-c", sql], RunAs.Postgres, TimeSpan.FromSeconds(60), environment);

    /// <summary>
    /// Optionally replaces <paramref name="from"/> with <paramref name="to"/> in conmgr.conf, reloads,
    /// and waits for the <paramref name="occurrence"/>-th (0-based) <paramref name="line"/> in the log.
    /// </summary>
    public async Task ReloadAsync(string? from, string? to, string line, int occurrence = 0)
    {
        var node = Cluster.Node;
        if (from is not null)
        {
            var text = await File.ReadAllTextAsync(node.Paths.ConfigFile);
            Assert.Contains(from, text, StringComparison.Ordinal);
            await node.WriteConfigurationAsync(text.Replace(from, to, StringComparison.Ordinal));
        }

        (await node.CtlAsync("reload")).EnsureSuccess("cm_ctl reload");
        await Poll.UntilAsync(() => Task.FromResult(CountOf(node.Log, line) > occurrence), TransparentCluster.Deadline, $"\"{line}\" in conmgr's log");
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Pki.Dispose();
    }

    private static int CountOf(string text, string line)
    {
        var count = 0;
        for (var at = text.IndexOf(line, StringComparison.Ordinal); at >= 0; at = text.IndexOf(line, at + line.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
