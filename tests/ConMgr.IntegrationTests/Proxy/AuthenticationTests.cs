// AuthenticationTests.cs: authentication passes end to end (conmgr never sees a password) and the protocol version is the server's to negotiate.
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class AuthenticationTests
{
    /// <summary>User, pg_hba.conf method, password (null: trust, the cluster's default for every other user).</summary>
    private static readonly (string User, string Method, string? Password)[] Users =
    [
        ("scram_user", "scram-sha-256", "scram secret"),
        ("md5_user", "md5", "md5 secret"),
        ("password_user", "password", "plain secret"),
        ("trust_user", "trust", null),
    ];

    [Fact]
    public async Task Scram_md5_password_and_trust_work_unchanged_through_both_ports_and_a_wrong_password_gets_the_servers_28P01()
    {
        var (t, rw, ro) = await ProxyCluster.StartAsync();
        await using var _ = t;
        await t.Cluster.Primary.ExecuteAsync("""
            set password_encryption = 'scram-sha-256';
            create role scram_user login password 'scram secret';
            create role password_user login password 'plain secret';
            set password_encryption = 'md5';
            create role md5_user login password 'md5 secret';
            create role trust_user login;
            """);
        var standby = t.Cluster.Standbys[0];
        await Poll.UntilAsync(async () => await standby.ScalarAsync<long>("select count(*) from pg_roles where rolname like '%\\_user'") == Users.Length, TransparentCluster.Deadline, "the roles on the standby");
        foreach (var instance in new[] { t.Cluster.Primary, standby })
        {
            await RequirePasswordsAsync(instance);
        }

        foreach (var port in new[] { rw, ro })
        {
            foreach (var (user, method, password) in Users)
            {
                // Npgsql answers SCRAM, md5 and cleartext requests itself: the server asked, the client answered, conmgr relayed.
                await using (var connection = await ProxyCluster.OpenAsync(port, $"Username={user};Password={password}"))
                {
                    Assert.Equal(user, await ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
                }

                // libpq (psql) too, with the password from the environment.
                var psql = await ProcessRunner.RunAsync("psql", ["-X", "-At", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", user, "-d", "postgres", "-c", "select current_user"], RunAs.Self, environment: new Dictionary<string, string> { ["PGPASSWORD"] = password ?? "" });
                Assert.True(psql.ExitCode == 0 && psql.StandardOutput.Trim() == user, $"psql as {user} ({method}) on port {port}: {psql.Output}");

                if (password is not null)
                {
                    var error = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.OpenAsync(port, $"Username={user};Password=wrong"));
                    Assert.Equal("28P01", error.SqlState);
                    Assert.Contains($"password authentication failed for user \"{user}\"", error.MessageText, StringComparison.Ordinal);
                }
            }
        }
    }

    [Fact]
    public async Task A_protocol_3_2_startup_with_an_unknown_option_gets_the_servers_NegotiateProtocolVersion_and_a_working_session()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        using var wire = await PgWire.ConnectAsync("127.0.0.1", rw);
        var startup = PgWire.StartupMessage(("user", "postgres"), ("database", "postgres"), ("_pq_.conmgr_test_option", "1"));
        BinaryPrimitives.WriteInt32BigEndian(startup.AsSpan(4), (3 << 16) | 2);
        await wire.SendAsync(startup);

        // PostgreSQL 15 speaks 3.0: it says so, and names the option it did not recognise.
        var negotiate = await wire.ReadMessageAsync(TransparentCluster.Deadline);
        Assert.NotNull(negotiate);
        Assert.Equal('v', negotiate.Type);
        Assert.Equal(3 << 16, BinaryPrimitives.ReadInt32BigEndian(negotiate.Body));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(negotiate.Body.AsSpan(4)));
        Assert.Equal("_pq_.conmgr_test_option\0", Encoding.UTF8.GetString(negotiate.Body.AsSpan(8)));

        var types = string.Concat((await wire.ReadUntilReadyAsync(TransparentCluster.Deadline)).Select(m => m.Type));
        Assert.StartsWith("R", types, StringComparison.Ordinal);
        Assert.EndsWith("KZ", types, StringComparison.Ordinal);

        await wire.SendAsync(PgWire.Query("select 42"));
        var row = Assert.Single(await wire.ReadUntilReadyAsync(TransparentCluster.Deadline), m => m.Type == 'D');
        Assert.Equal("42", Encoding.UTF8.GetString(row.Body.AsSpan(6)));
    }

    /// <summary>Puts a line per password user ahead of the cluster's trust lines, and reloads.</summary>
    private static async Task RequirePasswordsAsync(PgInstance instance)
    {
        var hba = Path.Combine(instance.DataDirectory, "pg_hba.conf");
        var lines = string.Concat(Users.Where(u => u.Password is not null).Select(u => $"host all {u.User} 127.0.0.1/32 {u.Method}\n"));
        await File.WriteAllTextAsync(hba, lines + await File.ReadAllTextAsync(hba));
        Assert.True(await instance.ScalarAsync<bool>("select pg_reload_conf()"));
        await Poll.UntilAsync(async () => await instance.ScalarAsync<long>("select count(*) from pg_hba_file_rules where auth_method in ('scram-sha-256', 'md5', 'password')") == 3, TransparentCluster.Deadline, $"{instance.Name}'s new pg_hba.conf");
    }
}
