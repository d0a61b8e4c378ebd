// ClientMatrixTests.cs: psql, pgbench, Npgsql, psycopg2, pgjdbc and node-postgres each run a scripted session through both ports (in plaintext here, over TLS in Tls/TlsClientMatrixTests.cs).
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

/// <summary>What a client matrix runs against: the ports, the direct checksum, and how clients reach the ports (TLS or not).</summary>
public interface IClientMatrixCluster
{
    TransparentCluster Cluster { get; }

    string BigResult { get; }

    int Port(string role);

    /// <summary>The clients' environment: libpq's PGSSLMODE and PGSSLROOTCERT (read by the pgjdbc and node-postgres scripts too); empty for plaintext.</summary>
    IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>Added to Npgsql's connection string.</summary>
    string NpgsqlOptions { get; }
}

/// <summary>The matrix in plaintext.</summary>
public sealed class ClientMatrixTests(ClientMatrixCluster fixture) : ClientMatrix(fixture), IClassFixture<ClientMatrixCluster>;

/// <summary>
/// The scripts are in tests/clients (their contract in its README.md): each prints <c>step NAME DETAIL</c> per step,
/// and every DETAIL is compared here with what the port promises; the 100 MB result's checksum with the same
/// query on a direct connection.
/// </summary>
public abstract class ClientMatrix(IClientMatrixCluster fixture)
{
    private static readonly string Clients = Path.Combine(RepoPaths.Root, "tests", "clients");

    [Fact]
    public Task Psql_runs_the_scripted_session_through_both_ports() =>
        RunBothAsync("psql", "bash", [Path.Combine(Clients, "psql-session.sh")]);

    [Fact]
    public Task Psycopg2_runs_the_scripted_session_through_both_ports() =>
        RunBothAsync("psycopg2", "/usr/bin/python3", [Path.Combine(Clients, "session.py")]);

    [Fact]
    public Task Pgjdbc_runs_the_scripted_session_through_both_ports() =>
        RunBothAsync("pgjdbc", "java", ["-cp", "/usr/share/java/postgresql.jar", Path.Combine(Clients, "Session.java")]);

    [Fact]
    public Task Node_postgres_runs_the_scripted_session_through_both_ports() =>
        RunBothAsync("node", "node", ["--no-deprecation", Path.Combine(Clients, "node", "session.js")]);

    [Fact]
    public async Task Npgsql_runs_the_scripted_session_through_both_ports()
    {
        foreach (var role in new[] { "read-write", "read-only" })
        {
            var steps = Parse(await NpgsqlSession.RunAsync(fixture.Port(role), role, "npgsql", fixture.NpgsqlOptions), "Npgsql");
            AssertSteps(role, steps, "Npgsql");
        }
    }

    [Fact]
    public async Task Pgbench_initializes_through_the_read_write_port_and_runs_each_query_mode_through_both()
    {
        var rw = fixture.Port("read-write").ToString(CultureInfo.InvariantCulture);
        var ro = fixture.Port("read-only").ToString(CultureInfo.InvariantCulture);

        // -i loads pgbench_accounts with COPY FROM STDIN.
        (await Pgbench(rw, "-i", "-s", "1", "-q")).EnsureSuccess("pgbench -i through the read-write port");
        await Poll.UntilAsync(async () => await fixture.Cluster.Cluster.Standbys[0].ScalarAsync<long>("select count(*) from pg_class where relname = 'pgbench_accounts'") == 1, TransparentCluster.Deadline, "pgbench's tables on the standby");
        await Poll.UntilAsync(async () => await fixture.Cluster.Cluster.Standbys[0].ScalarAsync<long>("select count(*) from pgbench_accounts") == 100_000, TransparentCluster.Deadline, "pgbench's rows on the standby");

        foreach (var port in new[] { rw, ro })
        {
            foreach (var mode in new[] { "simple", "extended", "prepared" })
            {
                var run = (await Pgbench(port, "-S", "-M", mode, "-c", "2", "-j", "2", "-t", "200", "-n")).EnsureSuccess($"pgbench -S -M {mode} on port {port}");
                Assert.Contains("number of transactions actually processed: 400/400", run.Output, StringComparison.Ordinal);
                Assert.Contains("number of failed transactions: 0", run.Output, StringComparison.Ordinal);
            }
        }

        // The built-in TPC-B-like transaction (BEGIN; three UPDATEs, an INSERT; END) commits on the read-write port
        // and is refused on the read-only one.
        var tpcb = (await Pgbench(rw, "-M", "prepared", "-c", "2", "-j", "2", "-t", "100", "-n")).EnsureSuccess("pgbench TPC-B through the read-write port");
        Assert.Contains("number of transactions actually processed: 200/200", tpcb.Output, StringComparison.Ordinal);
        Assert.Equal(200L, await fixture.Cluster.Cluster.Primary.ScalarAsync<long>("select count(*) from pgbench_history"));
        var refused = await Pgbench(ro, "-M", "prepared", "-c", "1", "-t", "1", "-n");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("cannot execute UPDATE in a read-only transaction", refused.Output, StringComparison.Ordinal);
    }

    private Task<ProcessResult> Pgbench(string port, params string[] args) =>
        ProcessRunner.RunAsync("pgbench", ["-h", "127.0.0.1", "-p", port, "-U", fixture.Environment.GetValueOrDefault("PGUSER", "postgres"), .. args, "postgres"], RunAs.Postgres, TimeSpan.FromSeconds(120), fixture.Environment);

    private async Task RunBothAsync(string client, string file, string[] args)
    {
        foreach (var role in new[] { "read-write", "read-only" })
        {
            var run = await ProcessRunner.RunAsync(file, [.. args, "127.0.0.1", fixture.Port(role).ToString(CultureInfo.InvariantCulture), role, client.Replace("-", "_", StringComparison.Ordinal)], RunAs.Self, TimeSpan.FromSeconds(120), fixture.Environment);
            var what = $"{client} on the {role} port (exit code {run.ExitCode}):\n{run.Output}";
            Assert.True(run.ExitCode == 0, what);
            AssertSteps(role, Parse(run.StandardOutput.Split('\n'), what), what);
        }
    }

    private void AssertSteps(string role, Dictionary<string, string> steps, string what)
    {
        var readWrite = role == "read-write";
        var expected = new Dictionary<string, string>
        {
            ["query"] = readWrite ? "recovery=false" : "recovery=true",
            ["transaction"] = readWrite ? "committed=2" : "write=25006",
            ["prepared"] = "2,4,6",
            ["copy_out"] = "rows=1000 sum=500500",
            ["copy_in"] = readWrite ? "rows=1000" : "refused=25006",
            ["cancel"] = "57014",
            ["big"] = fixture.BigResult,
        };
        if (readWrite)
        {
            expected["notify"] = "hello";
        }

        foreach (var (step, detail) in expected)
        {
            Assert.True(steps.TryGetValue(step, out var actual), $"step {step} missing: {what}");
            Assert.True(detail == actual, $"step {step}: expected '{detail}', got '{actual}': {what}");
        }
    }

    private static Dictionary<string, string> Parse(IEnumerable<string> lines, string what)
    {
        var steps = new Dictionary<string, string>();
        foreach (var line in lines.Where(l => l.StartsWith("step ", StringComparison.Ordinal)))
        {
            var parts = line.TrimEnd().Split(' ', 3);
            Assert.True(steps.TryAdd(parts[1], parts.Length > 2 ? parts[2] : ""), $"step {parts[1]} twice: {what}");
        }

        return steps;
    }
}

/// <summary>One cluster (primary, standby, conmgr with both ports) for the whole matrix; the table the sessions write to; the direct checksum.</summary>
public sealed class ClientMatrixCluster : IAsyncLifetime, IClientMatrixCluster
{
    public IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>();

    public string NpgsqlOptions => string.Empty;

    public (TransparentCluster Cluster, int ReadWritePort, int ReadOnlyPort) Started { get; private set; }

    public TransparentCluster Cluster => Started.Cluster;

    /// <summary><c>BYTES SHA256</c> of <see cref="RelayTests.BigResultSql"/> read on a direct connection to the primary.</summary>
    public string BigResult { get; private set; } = "";

    public int Port(string role) => role == "read-write" ? Started.ReadWritePort : Started.ReadOnlyPort;

    public async Task InitializeAsync()
    {
        Started = await ProxyCluster.StartAsync(standbys: 1);
        await Cluster.Cluster.Primary.ExecuteAsync("create table client_matrix(client text, id int)");
        await Poll.UntilAsync(async () => await Cluster.Cluster.Standbys[0].ScalarAsync<long>("select count(*) from pg_class where relname = 'client_matrix'") == 1, TransparentCluster.Deadline, "client_matrix on the standby");
        await using var direct = new Npgsql.NpgsqlConnection(Cluster.Cluster.Primary.TcpConnectionString());
        await direct.OpenAsync();
        var (bytes, hash) = await RelayTests.ChecksumAsync(direct, RelayTests.BigResultSql);
        BigResult = $"{bytes.ToString(CultureInfo.InvariantCulture)} {hash.ToLowerInvariant()}";
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
