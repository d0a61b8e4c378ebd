// PreauthClientsTests.cs: the real clients log in through conmgr's TLS proxy port with conmgr authenticating them, channel binding where they support it, and conmgr holding no server certificate.
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Preauth;

public sealed class PreauthClientsTests
{
    private static readonly string Clients = Path.Combine(RepoPaths.Root, "tests", "clients");

    public static TheoryData<string> ClientNames => ["psycopg2", "pgjdbc", "node-postgres"];

    [Theory]
    [MemberData(nameof(ClientNames))]
    public async Task A_real_client_logs_in_over_tls_through_conmgrs_own_scram_with_the_server_linked_by_tls_too(string client)
    {
        await using var t = await PreauthCluster.StartAsync("hostssl all all 127.0.0.1/32 scram-sha-256\n", "backend_sslmode = require\n", serverTls: true);
        var (program, arguments) = client switch
        {
            "psycopg2" => ("/usr/bin/python3", new[] { Path.Combine(Clients, "login.py") }),
            "pgjdbc" => ("java", ["-cp", "/usr/share/java/postgresql.jar", Path.Combine(Clients, "Login.java")]),
            _ => ("node", [Path.Combine(Clients, "node", "login.js")]),
        };

        var run = await ProcessRunner.RunAsync(program, [.. arguments, "localhost", t.ReadWritePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "app", t.Tls.Pki.CaFile], RunAs.Postgres, TimeSpan.FromSeconds(120), new Dictionary<string, string> { ["PGPASSWORD"] = PreauthCluster.Password });

        Assert.True(run.ExitCode == 0 && run.StandardOutput.Trim() == "app", run.Output);
        var wrong = await ProcessRunner.RunAsync(program, [.. arguments, "localhost", t.ReadWritePort.ToString(System.Globalization.CultureInfo.InvariantCulture), "app", t.Tls.Pki.CaFile], RunAs.Postgres, TimeSpan.FromSeconds(120), new Dictionary<string, string> { ["PGPASSWORD"] = "wrong" });
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("password authentication failed for user \"app\"", wrong.Output, StringComparison.Ordinal);
    }
}
