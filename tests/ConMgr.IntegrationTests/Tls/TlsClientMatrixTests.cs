// TlsClientMatrixTests.cs: the client matrix with every hop on TLS: each client verifies conmgr's certificate, conmgr verifies the servers', and the servers refuse plaintext.
using System.Globalization;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Tls;

/// <summary>
/// psql, pgbench, Npgsql, psycopg2, pgjdbc and node-postgres run their whole scripted sessions
/// (COPY both ways, their own cancels, a 100 MB result, LISTEN/NOTIFY) through both ports over TLS,
/// with sslmode=verify-full (or the client's equivalent). conmgr reaches the servers with
/// backend_sslmode = verify-full, and both servers reject plaintext TCP sessions (hostnossl reject),
/// so a session that passes was encrypted on both sides.
/// </summary>
public sealed class TlsClientMatrixTests(TlsClientMatrixCluster fixture) : ClientMatrix(fixture), IClassFixture<TlsClientMatrixCluster>;

public sealed class TlsClientMatrixCluster : IAsyncLifetime, IClientMatrixCluster
{
    private TlsCluster _tls = null!;

    public TransparentCluster Cluster => _tls.Cluster;

    public string BigResult { get; private set; } = "";

    public IReadOnlyDictionary<string, string> Environment { get; private set; } = new Dictionary<string, string>();

    public string NpgsqlOptions => $"SSL Mode=VerifyFull;Root Certificate={_tls.Pki.CaFile}";

    public int Port(string role) => role == "read-write" ? _tls.ReadWritePort : _tls.ReadOnlyPort;

    public async Task InitializeAsync()
    {
        _tls = await TlsCluster.StartAsync(prepare: pki => Task.FromResult($"backend_sslmode = verify-full\nbackend_sslrootcert = '{pki.CaFile}'"));
        Environment = new Dictionary<string, string> { ["PGSSLMODE"] = "verify-full", ["PGSSLROOTCERT"] = _tls.Pki.CaFile };
        var cluster = Cluster.Cluster;
        await cluster.Primary.ExecuteAsync("create table client_matrix(client text, id int)");
        foreach (var instance in cluster.Instances)
        {
            await _tls.EnableServerTlsAsync(instance, ["127.0.0.1", "localhost"], hbaLines: "hostnossl all all 127.0.0.1/32 reject\n");
        }

        await Poll.UntilAsync(async () => await cluster.Standbys[0].ScalarAsync<long>("select count(*) from pg_class where relname = 'client_matrix'") == 1, TransparentCluster.Deadline, "client_matrix on the standby");
        await using var direct = new Npgsql.NpgsqlConnection(cluster.Primary.TcpConnectionString() + $";SSL Mode=VerifyFull;Root Certificate={_tls.Pki.CaFile}");
        await direct.OpenAsync();
        var (bytes, hash) = await RelayTests.ChecksumAsync(direct, RelayTests.BigResultSql);
        BigResult = $"{bytes.ToString(CultureInfo.InvariantCulture)} {hash.ToLowerInvariant()}";
    }

    public async Task DisposeAsync() => await _tls.DisposeAsync();
}
