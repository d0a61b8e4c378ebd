// PooledClientMatrixTests.cs: the client matrix (psql, psycopg2, pgjdbc, node-postgres, Npgsql, pgbench) through both ports in transaction mode, and in session mode.
using System.Globalization;
using ConMgr.IntegrationTests.Preauth;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Pooling;

/// <summary>Every step that passes without pooling passes in transaction mode: COPY both ways, cancels, LISTEN/NOTIFY (pinned), SQL and protocol prepared statements (pinned), a 100 MB result.</summary>
public sealed class TransactionPooledClientMatrixTests(TransactionPooledMatrixCluster fixture) : ClientMatrix(fixture), IClassFixture<TransactionPooledMatrixCluster>;

/// <summary>The same in session mode.</summary>
public sealed class SessionPooledClientMatrixTests(SessionPooledMatrixCluster fixture) : ClientMatrix(fixture), IClassFixture<SessionPooledMatrixCluster>;

public sealed class TransactionPooledMatrixCluster() : PooledMatrixCluster("transaction");

public sealed class SessionPooledMatrixCluster() : PooledMatrixCluster("session");

/// <summary>A preauth cluster with a standby whose ports pool in <paramref name="mode"/>; the clients log in as the SCRAM role <c>app</c>.</summary>
public abstract class PooledMatrixCluster(string mode) : IAsyncLifetime, IClientMatrixCluster
{
    private PreauthCluster _preauth = null!;

    public TransparentCluster Cluster => _preauth.Cluster;

    public string BigResult { get; private set; } = "";

    public IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string> { ["PGUSER"] = "app", ["PGPASSWORD"] = PreauthCluster.Password };

    public string NpgsqlOptions => $"Username=app;Password={PreauthCluster.Password}";

    public int Port(string role) => role == "read-write" ? _preauth.ReadWritePort : _preauth.ReadOnlyPort;

    public async Task InitializeAsync()
    {
        _preauth = await PreauthCluster.StartAsync("host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n", $"server_pool_mode = {mode}\nread_write_max_server_connections = 4\nread_only_max_server_connections = 4\n", standbys: 1);
        var cluster = Cluster.Cluster;
        await cluster.Primary.ExecuteAsync("create table client_matrix(client text, id int); grant all on client_matrix to app; grant create on schema public to app");
        await Poll.UntilAsync(async () => await cluster.Standbys[0].ScalarAsync<long>("select count(*) from pg_class where relname = 'client_matrix'") == 1, TransparentCluster.Deadline, "client_matrix on the standby");
        await using var direct = new Npgsql.NpgsqlConnection(cluster.Primary.TcpConnectionString());
        await direct.OpenAsync();
        var (bytes, hash) = await RelayTests.ChecksumAsync(direct, RelayTests.BigResultSql);
        BigResult = $"{bytes.ToString(CultureInfo.InvariantCulture)} {hash.ToLowerInvariant()}";
    }

    public async Task DisposeAsync() => await _preauth.DisposeAsync();
}
