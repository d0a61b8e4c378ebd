// ChannelBindingTests.cs: SCRAM channel binding when TLS ends at conmgr: what passes, what is refused and how clearly, in the three configurations that matter.
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Tls;

/// <summary>
/// A SCRAM user on a server with ssl = on; the client's TLS ends at conmgr. libpq's
/// channel_binding: <c>require</c> needs SCRAM-SHA-256-PLUS, <c>prefer</c> (the default) uses it
/// when offered and otherwise sends the GS2 flag 'y', <c>disable</c> never binds. The server
/// offers SCRAM-SHA-256-PLUS only on a TLS connection (docs/proxy.md, "Channel binding").
/// </summary>
public sealed class ChannelBindingTests
{
    private const string Password = "scram secret";

    [Fact]
    public async Task Through_a_plaintext_server_link_prefer_logs_in_and_require_fails_with_libpqs_clear_error()
    {
        await using var t = await StartAsync("backend_sslmode = disable");

        var prefer = await PsqlAsync(t, "prefer");
        Assert.True(prefer.ExitCode == 0 && prefer.StandardOutput.Trim() == "scram_user|f", prefer.Output);

        var require = await PsqlAsync(t, "require");
        Assert.NotEqual(0, require.ExitCode);
        Assert.Contains("channel binding is required, but server did not offer an authentication method that supports channel binding", require.Output, StringComparison.Ordinal);

        // Npgsql sends 'y' when no -PLUS is offered; a server whose own link is plaintext accepts it.
        await using (var connection = await OpenNpgsqlAsync(t, "Prefer"))
        {
            Assert.Equal("scram_user", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
        }

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenNpgsqlAsync(t, "Require"));
    }

    [Fact]
    public async Task Through_a_tls_server_link_with_another_certificate_a_client_that_binds_is_told_what_to_change_and_one_that_does_not_logs_in()
    {
        await using var t = await StartAsync("backend_sslmode = require");

        // libpq's prefer and require choose SCRAM-SHA-256-PLUS: the server would answer "SCRAM channel binding check failed"; conmgr says why and what to change.
        foreach (var mode in new[] { "require", "prefer" })
        {
            var psql = await PsqlAsync(t, mode);
            Assert.NotEqual(0, psql.ExitCode);
            Assert.Contains("SCRAM channel binding cannot pass through conmgr", psql.Output, StringComparison.Ordinal);
            Assert.Contains("channel_binding=disable", psql.Output, StringComparison.Ordinal);
        }

        var npgsql = await Assert.ThrowsAsync<PostgresException>(() => OpenNpgsqlAsync(t, "Prefer"));
        Assert.Equal("28000", npgsql.SqlState);

        // Without channel binding both log in, encrypted end to end.
        var disable = await PsqlAsync(t, "disable");
        Assert.True(disable.ExitCode == 0 && disable.StandardOutput.Trim() == "scram_user|t", disable.Output);
        await using var connection = await OpenNpgsqlAsync(t, "Disable");
        Assert.Equal("scram_user", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
    }

    [Fact]
    public async Task With_the_servers_own_certificate_at_conmgr_channel_binding_passes_through_end_to_end()
    {
        await using var t = await StartAsync("backend_sslmode = require", sameCertificate: true);

        foreach (var mode in new[] { "require", "prefer" })
        {
            var psql = await PsqlAsync(t, mode);
            Assert.True(psql.ExitCode == 0 && psql.StandardOutput.Trim() == "scram_user|t", $"channel_binding={mode}: {psql.Output}");
        }

        await using var connection = await OpenNpgsqlAsync(t, "Require");
        Assert.Equal("scram_user", await Proxy.ProxyCluster.ScalarAsync<string>(connection, "select current_user"));
    }

    /// <summary>
    /// conmgr with ssl = on and <paramref name="backendLine"/>; the primary with TLS (its own
    /// certificate, or conmgr's when <paramref name="sameCertificate"/>) and a SCRAM user.
    /// </summary>
    private static async Task<TlsCluster> StartAsync(string backendLine, bool sameCertificate = false)
    {
        var t = await TlsCluster.StartAsync(backendLine, standbys: 0);
        try
        {
            var primary = t.Cluster.Cluster.Primary;
            await primary.ExecuteAsync($"set password_encryption = 'scram-sha-256'; create role scram_user login password '{Password}'");
            await t.EnableServerTlsAsync(primary, ["localhost", "127.0.0.1"], certificate: sameCertificate ? t.ConMgrCertificate : null, hbaLines: "host all scram_user 127.0.0.1/32 scram-sha-256\n");
            return t;
        }
        catch
        {
            await t.DisposeAsync();
            throw;
        }
    }

    /// <summary>psql over TLS to the read-write port with <paramref name="channelBinding"/>; prints current_user|server-side ssl.</summary>
    private static Task<ProcessResult> PsqlAsync(TlsCluster t, string channelBinding) => TlsCluster.PsqlAsync(
        TlsCluster.Libpq(t.ReadWritePort, $"user=scram_user sslmode=verify-full sslrootcert={t.Pki.CaFile} channel_binding={channelBinding}", "localhost"),
        "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()",
        new Dictionary<string, string> { ["PGPASSWORD"] = Password });

    private static Task<NpgsqlConnection> OpenNpgsqlAsync(TlsCluster t, string channelBinding) =>
        Proxy.ProxyCluster.OpenAsync(t.ReadWritePort, $"Host=localhost;Username=scram_user;Password={Password};SSL Mode=VerifyFull;Root Certificate={t.Pki.CaFile};Channel Binding={channelBinding}");
}
