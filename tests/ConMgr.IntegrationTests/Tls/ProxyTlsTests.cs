// ProxyTlsTests.cs: TLS ends at conmgr's proxy ports: real clients verify conmgr's certificate, PostgreSQL 17's direct TLS, cancels over TLS, and what is refused.
using System.Globalization;
using ConMgr.IntegrationTests.Proxy;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Tls;

/// <summary>One cluster for the class: conmgr with ssl = on, its certificate for localhost and 127.0.0.1 from the test's CA; a second CA nobody trusts.</summary>
public sealed class ProxyTlsCluster : IAsyncLifetime
{
    public TlsCluster Tls { get; private set; } = null!;

    /// <summary>A CA that signed nothing conmgr presents: trusting only it must fail.</summary>
    public TestPki OtherCa { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Tls = await TlsCluster.StartAsync();
        OtherCa = TestPki.Create(Path.Combine(Tls.Pki.Directory, "other"), "Some Other CA");
        await Tls.Pki.ChownAsync();
    }

    public async Task DisposeAsync()
    {
        OtherCa.Dispose();
        await Tls.DisposeAsync();
    }
}

public sealed class ProxyTlsTests(ProxyTlsCluster fixture) : IClassFixture<ProxyTlsCluster>
{
    private TlsCluster T => fixture.Tls;

    [Fact]
    public async Task Psql_with_sslmode_verify_full_reaches_both_ports_over_tls_by_name_and_by_address()
    {
        foreach (var port in T.ProxyPorts)
        {
            foreach (var host in new[] { "localhost", "127.0.0.1" })
            {
                var psql = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, $"sslmode=verify-full sslrootcert={T.Pki.CaFile}", host), "\\conninfo");
                Assert.True(psql.ExitCode == 0, $"psql to {host}:{port}: {psql.Output}");
                Assert.Contains("SSL connection (protocol: TLSv1.3", psql.StandardOutput, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Npgsql_psycopg2_and_pgjdbc_verify_conmgrs_certificate_and_query_through_both_ports()
    {
        foreach (var port in T.ProxyPorts)
        {
            var p = port.ToString(CultureInfo.InvariantCulture);
            await using (var connection = await ProxyCluster.OpenAsync(port, $"Host=localhost;SSL Mode=VerifyFull;Root Certificate={T.Pki.CaFile}"))
            {
                // VerifyFull cannot open without TLS and a certificate that passed.
                Assert.Equal(1, await ProxyCluster.ScalarAsync<int>(connection, "select 1"));
            }

            var psycopg2 = await ProcessRunner.RunAsync(
                "/usr/bin/python3",
                ["-c", $"import psycopg2; c = psycopg2.connect(host='localhost', port={p}, user='postgres', dbname='postgres', sslmode='verify-full', sslrootcert='{T.Pki.CaFile}'); cur = c.cursor(); cur.execute('select 41 + 1'); print('psycopg2', cur.fetchone()[0], c.info.ssl_in_use)"],
                RunAs.Postgres,
                TimeSpan.FromSeconds(60));
            Assert.True(psycopg2.StandardOutput.Trim() == "psycopg2 42 True", $"psycopg2 on port {port}: {psycopg2.Output}");

            var pgjdbc = await RunJavaAsync($"jdbc:postgresql://localhost:{p}/postgres?user=postgres&sslmode=verify-full&sslrootcert={T.Pki.CaFile}", "select 41 + 1");
            Assert.True(pgjdbc.StandardOutput.Trim() == "pgjdbc 42", $"pgjdbc on port {port}: {pgjdbc.Output}");
        }
    }

    [Fact]
    public async Task Npgsql_connects_with_postgresql_17s_direct_tls_and_a_client_without_alpn_is_refused()
    {
        foreach (var port in T.ProxyPorts)
        {
            await using (var connection = await ProxyCluster.OpenAsync(port, $"Host=localhost;SSL Mode=VerifyFull;Root Certificate={T.Pki.CaFile};SSL Negotiation=Direct"))
            {
                Assert.Equal("direct", await ProxyCluster.ScalarAsync<string>(connection, "select 'direct'"));
            }

            // TLS straight away but no ALPN: PostgreSQL 17 refuses that, and so does conmgr (closed, logged).
            using var wire = await PgWire.ConnectAsync("127.0.0.1", port);
            await wire.StartTlsAsync(T.Pki.CaFile);
            await wire.SendAsync(PgWire.StartupMessage(("user", "postgres"), ("database", "postgres")));
            Assert.Null(await ReadOrNullAsync(wire));
        }

        await Poll.UntilAsync(() => Task.FromResult(T.Cluster.Node.Log.Contains("without ALPN protocol negotiation extension", StringComparison.Ordinal)), TransparentCluster.Deadline, "the ALPN refusal in conmgr's log");
    }

    [Fact]
    public async Task A_wrong_ca_and_a_wrong_host_name_are_each_refused_with_libpqs_own_error()
    {
        var port = T.ReadWritePort;
        var wrongCa = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, $"sslmode=verify-full sslrootcert={fixture.OtherCa.CaFile}", "localhost"), "select 1");
        Assert.NotEqual(0, wrongCa.ExitCode);
        Assert.Contains("certificate verify failed", wrongCa.Output, StringComparison.Ordinal);

        // The certificate names localhost and 127.0.0.1; the client asks for db.example at the same address.
        var wrongHost = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, $"hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={T.Pki.CaFile}", "db.example"), "select 1");
        Assert.NotEqual(0, wrongHost.ExitCode);
        Assert.Contains("does not match host name \"db.example\"", wrongHost.Output, StringComparison.Ordinal);

        var npgsql = await Assert.ThrowsAnyAsync<NpgsqlException>(() => ProxyCluster.OpenAsync(port, $"Host=localhost;SSL Mode=VerifyFull;Root Certificate={fixture.OtherCa.CaFile}"));
        Assert.IsType<System.Security.Authentication.AuthenticationException>(npgsql.InnerException);

        // verify-ca does not look at the name: the same wrong name is accepted.
        var verifyCa = await TlsCluster.PsqlAsync(TlsCluster.Libpq(port, $"hostaddr=127.0.0.1 sslmode=verify-ca sslrootcert={T.Pki.CaFile}", "db.example"), "select 1");
        Assert.True(verifyCa.ExitCode == 0, verifyCa.Output);
    }

    [Fact]
    public async Task A_cancel_request_sent_over_tls_cancels_the_query_of_a_tls_session_on_each_port()
    {
        foreach (var port in T.ProxyPorts)
        {
            using var session = await OpenTlsSessionAsync(port);
            var key = (await session.ReadUntilReadyAsync(TransparentCluster.Deadline)).Single(m => m.Type == 'K');
            await session.SendAsync(PgWire.Query("select pg_sleep(60)"));
            var instance = port == T.ReadWritePort ? T.Cluster.Cluster.Primary : T.Cluster.Cluster.Standbys[0];
            await Poll.UntilAsync(async () => await instance.ScalarAsync<long>("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'") == 1, TransparentCluster.Deadline, "the query running");

            // As libpq 17 sends it: SSLRequest, TLS, then the CancelRequest inside TLS.
            using (var cancel = await OpenTlsAsync(port))
            {
                await cancel.SendAsync([0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, .. key.Body]);
                Assert.Null(await ReadOrNullAsync(cancel));
            }

            // RowDescription went before the sleep; then the cancel's error, and the session is ready again.
            var answer = await session.ReadUntilReadyAsync(TransparentCluster.Deadline);
            Assert.Equal("57014", answer.Single(m => m.Type == 'E').Fields['C']);
        }
    }

    [Fact]
    public async Task Bytes_after_an_ssl_request_and_an_ssl_request_inside_tls_are_protocol_violations()
    {
        // Data sent behind the SSLRequest would be read as if it came over TLS (CVE-2021-23214's class): refused in plaintext.
        using (var wire = await PgWire.ConnectAsync("127.0.0.1", T.ReadWritePort))
        {
            await wire.SendAsync([.. PgWire.SslRequest, .. PgWire.StartupMessage(("user", "postgres"))]);
            var error = await wire.ReadMessageAsync(TransparentCluster.Deadline);
            Assert.NotNull(error);
            Assert.Equal("08P01", error.Fields['C']);
            Assert.Contains("unexpected data after the startup packet", error.Fields['M'], StringComparison.Ordinal);
        }

        using (var wire = await OpenTlsAsync(T.ReadWritePort))
        {
            await wire.SendAsync(PgWire.SslRequest);
            var error = await wire.ReadMessageAsync(TransparentCluster.Deadline);
            Assert.NotNull(error);
            Assert.Equal("08P01", error.Fields['C']);
            Assert.Contains("encryption requested over an encrypted connection", error.Fields['M'], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_gssapi_encryption_request_still_gets_N_and_the_resolve_port_still_answers_ssl_with_N()
    {
        using (var wire = await PgWire.ConnectAsync("127.0.0.1", T.ReadWritePort))
        {
            await wire.SendAsync([0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30]);
            Assert.Equal((byte)'N', (await wire.ReadExactlyAsync(1, TransparentCluster.Deadline))![0]);
        }

        using (var wire = await PgWire.ConnectAsync("127.0.0.1", T.Cluster.Node.Port))
        {
            await wire.SendAsync(PgWire.SslRequest);
            Assert.Equal((byte)'N', (await wire.ReadExactlyAsync(1, TransparentCluster.Deadline))![0]);
        }
    }

    /// <summary>SSLRequest, 'S', and a verified handshake with conmgr.</summary>
    private async Task<PgWire> OpenTlsAsync(int port)
    {
        var wire = await PgWire.ConnectAsync("127.0.0.1", port);
        await wire.SendAsync(PgWire.SslRequest);
        Assert.Equal((byte)'S', (await wire.ReadExactlyAsync(1, TransparentCluster.Deadline))![0]);
        await wire.StartTlsAsync(T.Pki.CaFile);
        return wire;
    }

    private async Task<PgWire> OpenTlsSessionAsync(int port)
    {
        var wire = await OpenTlsAsync(port);
        await wire.SendAsync(PgWire.StartupMessage(("user", "postgres"), ("database", "postgres")));
        return wire;
    }

    /// <summary>The next message, or null when the peer closed (EOF, reset or TLS alert).</summary>
    private static async Task<WireMessage?> ReadOrNullAsync(PgWire wire)
    {
        try
        {
            return await wire.ReadMessageAsync(TransparentCluster.Deadline);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>pgjdbc (Debian's libpostgresql-jdbc-java) runs one query and prints "pgjdbc RESULT".</summary>
    public static Task<ProcessResult> RunJavaAsync(string url, string sql) => ProcessRunner.RunAsync(
        "java",
        ["-cp", "/usr/share/java/postgresql.jar", Path.Combine(RepoPaths.Root, "tests", "clients", "OneQuery.java"), url, sql],
        RunAs.Postgres,
        TimeSpan.FromSeconds(120));
}
