// PoolingTests.cs: server_pool_mode session and transaction on the read-write port, against a real server: reuse, reset, settings per client, pins, limits and waiting.
using System.Globalization;
using ConMgr.IntegrationTests.Preauth;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Pooling;

public sealed class PoolingTests
{
    private const string AllScram = "host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n";

    private static Task<PreauthCluster> StartAsync(string lines) => PreauthCluster.StartAsync(AllScram, lines);

    private static Task<NpgsqlConnection> OpenAsync(PreauthCluster t, string applicationName) => PooledClients.OpenAsync(t.ReadWritePort, applicationName);

    private static Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql) => PooledClients.ScalarAsync<T>(connection, sql);

    private static Task<long> AppBackendsAsync(PreauthCluster t) => PooledClients.AppBackendsAsync(t.Primary);

    [Fact]
    public async Task In_session_mode_a_server_connection_outlives_its_client_and_the_next_client_finds_it_reset_with_its_own_settings()
    {
        await using var t = await StartAsync("server_pool_mode = session\nread_write_max_server_connections = 1\n");
        int first;
        await using (var a = await OpenAsync(t, "client-a"))
        {
            first = await ScalarAsync<int>(a, "select pg_backend_pid()");
            await ScalarAsync<string>(a, "select set_config('search_path', 'a_schema', false)");
            await ScalarAsync<int>(a, "select 1 from (select pg_advisory_lock(42)) l");
            Assert.Equal("client-a", await ScalarAsync<string>(a, "show application_name"));
        }

        await using var b = await OpenAsync(t, "client-b");
        Assert.Equal(first, await ScalarAsync<int>(b, "select pg_backend_pid()"));
        Assert.Equal("client-b", await ScalarAsync<string>(b, "show application_name"));
        Assert.Equal("\"$user\", public", await ScalarAsync<string>(b, "show search_path"));
        Assert.Equal(0L, await ScalarAsync<long>(b, "select count(*) from pg_locks where locktype = 'advisory'"));
        Assert.Equal(1L, await AppBackendsAsync(t));
    }

    [Fact]
    public async Task In_transaction_mode_two_clients_share_one_server_connection_each_with_its_own_application_name()
    {
        await using var t = await StartAsync("server_pool_mode = transaction\nread_write_max_server_connections = 1\n");
        await using var a = await OpenAsync(t, "client-a");
        await using var b = await OpenAsync(t, "client-b");
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("client-a", await ScalarAsync<string>(a, "select current_setting('application_name')"));
            Assert.Equal("client-b", await ScalarAsync<string>(b, "select current_setting('application_name')"));
        }

        Assert.Equal(await ScalarAsync<int>(a, "select pg_backend_pid()"), await ScalarAsync<int>(b, "select pg_backend_pid()"));
        Assert.Equal(1L, await AppBackendsAsync(t));

        // A transaction keeps its server: the other client waits for it, then runs.
        await using (var tx = await a.BeginTransactionAsync())
        {
            await ScalarAsync<int>(a, "select 1");
            var waiting = ScalarAsync<string>(b, "select current_setting('application_name')");
            await Task.Delay(200);
            Assert.False(waiting.IsCompleted);
            await tx.CommitAsync();
            Assert.Equal("client-b", await waiting);
        }
    }

    [Fact]
    public async Task In_transaction_mode_listen_and_a_session_advisory_lock_pin_the_client_and_other_clients_use_other_servers()
    {
        await using var t = await StartAsync("server_pool_mode = transaction\nread_write_max_server_connections = 3\n");
        await using var listener = await OpenAsync(t, "listener");
        await using var locker = await OpenAsync(t, "locker");
        await using var other = await OpenAsync(t, "other");

        await using (var listen = new NpgsqlCommand("listen pool_channel", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }

        Assert.Equal(1L, await ScalarAsync<long>(locker, "select count(*) from (select pg_advisory_lock(7)) l"));
        var listenerPid = await ScalarAsync<int>(listener, "select pg_backend_pid()");
        var lockerPid = await ScalarAsync<int>(locker, "select pg_backend_pid()");
        Assert.NotEqual(listenerPid, lockerPid);
        for (var i = 0; i < 3; i++)
        {
            var otherPid = await ScalarAsync<int>(other, "select pg_backend_pid()");
            Assert.NotEqual(listenerPid, otherPid);
            Assert.NotEqual(lockerPid, otherPid);
            Assert.Equal(listenerPid, await ScalarAsync<int>(listener, "select pg_backend_pid()"));
            Assert.Equal(lockerPid, await ScalarAsync<int>(locker, "select pg_backend_pid()"));
        }

        var received = new TaskCompletionSource<string>();
        listener.Notification += (_, e) => received.TrySetResult(e.Payload);
        await using (var notify = new NpgsqlCommand("notify pool_channel, 'hello'", other))
        {
            await notify.ExecuteNonQueryAsync();
        }

        using var cts = new CancellationTokenSource(TransparentCluster.Deadline);
        while (!received.Task.IsCompleted)
        {
            await listener.WaitAsync(cts.Token);
        }

        Assert.Equal("hello", await received.Task);
        Assert.Equal(1L, await ScalarAsync<long>(other, "select count(*) from pg_locks where locktype = 'advisory' and granted"));

        // cm_ctl status shows each client's server and what pins it, and the pool.
        var status = await t.Cluster.Node.CtlAsync("status", "-i", "application");
        Assert.True(status.ExitCode == 0, status.Output);
        Assert.Contains($"backend {listenerPid}, pinned: Listen", status.Output, StringComparison.Ordinal);
        Assert.Contains($"backend {lockerPid}, pinned: AdvisoryLock", status.Output, StringComparison.Ordinal);
        Assert.Matches(@"read-write \| 0 +\| postgres +\| app +\| 2 +\| 1 +\| 0 +\| 2", status.Output);
    }

    [Fact]
    public async Task A_set_of_a_reported_parameter_pins_nothing_follows_its_client_to_another_server_and_never_reaches_the_next_client()
    {
        await using var t = await StartAsync("server_pool_mode = transaction\nread_write_max_server_connections = 2\n");
        var serverDefault = await t.Primary.ScalarAsync<string>("show timezone");
        await using var a = await OpenAsync(t, "a");
        await using var b = await OpenAsync(t, "b");
        var first = await ScalarAsync<int>(a, "select pg_backend_pid()");
        await using (var set = new NpgsqlCommand("set timezone = 'Asia/Tokyo'", a))
        {
            await set.ExecuteNonQueryAsync();
        }

        Assert.Equal("Asia/Tokyo", a.PostgresParameters["TimeZone"]);

        // b's transaction takes the server a set it on; a's next transaction lands on the other one, with its time zone.
        await using (var transaction = await b.BeginTransactionAsync())
        {
            Assert.Equal(first, await ScalarAsync<int>(b, "select pg_backend_pid()"));
            Assert.Equal(serverDefault, await ScalarAsync<string>(b, "show timezone"));
            Assert.NotEqual(first, await ScalarAsync<int>(a, "select pg_backend_pid()"));
            Assert.Equal("Asia/Tokyo", await ScalarAsync<string>(a, "show timezone"));
            await transaction.CommitAsync();
        }

        // Each client's ParameterStatus stream says what a direct session would: its own time zone.
        Assert.Equal(serverDefault, b.PostgresParameters["TimeZone"]);
        Assert.Equal("Asia/Tokyo", a.PostgresParameters["TimeZone"]);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("Asia/Tokyo", await ScalarAsync<string>(a, "show timezone"));
            Assert.Equal(serverDefault, await ScalarAsync<string>(b, "show timezone"));
        }

        var status = await t.Cluster.Node.CtlAsync("status", "-i", "application");
        Assert.DoesNotContain("pinned:", status.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tls_client_with_channel_binding_shares_a_server_connection_with_a_plaintext_one()
    {
        await using var t = await StartAsync("server_pool_mode = transaction\nread_write_max_server_connections = 1\n");
        const string Sql = "select current_user || ' ' || pg_backend_pid()";
        var tls = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", options: t.VerifiedTls("require"), sql: Sql);
        var plain = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", sql: Sql);
        Assert.True(tls.ExitCode == 0, tls.Output);
        Assert.True(plain.ExitCode == 0, plain.Output);
        Assert.StartsWith("app ", tls.StandardOutput.Trim(), StringComparison.Ordinal);
        Assert.Equal(tls.StandardOutput.Trim(), plain.StandardOutput.Trim());
    }

    [Fact]
    public async Task A_client_that_waits_pool_wait_timeout_for_a_server_gets_53300_and_the_holder_is_not_disturbed()
    {
        await using var t = await StartAsync("server_pool_mode = transaction\nread_write_max_server_connections = 1\npool_wait_timeout = 1s\n");
        await using var holder = await OpenAsync(t, "holder");
        await using var waiter = await OpenAsync(t, "waiter");
        await using var tx = await holder.BeginTransactionAsync();
        await ScalarAsync<int>(holder, "select 1");

        var error = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync<int>(waiter, "select 1"));
        Assert.Equal("53300", error.SqlState);
        Assert.Contains("pool_wait_timeout (1s)", error.MessageText, StringComparison.Ordinal);
        Assert.Equal(2, await ScalarAsync<int>(holder, "select 2"));
        await tx.CommitAsync();
    }

    [Fact]
    public async Task Pgbench_with_sixteen_clients_runs_on_two_server_connections_in_transaction_mode()
    {
        await using var t = await StartAsync("server_pool_mode = transaction\nread_write_max_server_connections = 2\n");
        var environment = new Dictionary<string, string> { ["PGPASSWORD"] = PreauthCluster.Password };
        var init = await ProcessRunner.RunAsync("pgbench", ["-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", t.Primary.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "postgres"], RunAs.Postgres, TimeSpan.FromMinutes(2));
        Assert.True(init.ExitCode == 0, init.Output);
        await t.Primary.ExecuteAsync("grant all on all tables in schema public to app");
        foreach (var protocol in new[] { "simple", "extended" })
        {
            var run = await ProcessRunner.RunAsync("pgbench", ["-n", "-S", "-M", protocol, "-c", "16", "-j", "2", "-t", "50", "-h", "127.0.0.1", "-p", t.ReadWritePort.ToString(CultureInfo.InvariantCulture), "-U", "app", "postgres"], RunAs.Postgres, TimeSpan.FromMinutes(2), environment);
            Assert.True(run.ExitCode == 0, run.Output);
            Assert.Contains("number of transactions actually processed: 800/800", run.Output, StringComparison.Ordinal);
        }

        var backends = await AppBackendsAsync(t);
        Assert.True(backends <= 2, $"{backends} backends of app");
    }
}
