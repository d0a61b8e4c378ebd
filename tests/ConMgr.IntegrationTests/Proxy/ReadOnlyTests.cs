// ReadOnlyTests.cs: on the read-only port no route a write can take gets through, on a standby and on a primary fallback.
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class ReadOnlyTests
{
    /// <summary>What a client may try first to make its session read-write: each runs (and may fail) before the write.</summary>
    private static readonly string[] Escapes =
    [
        "select 1",
        "set default_transaction_read_only = off",
        "set session characteristics as transaction read write",
        "begin read write",
        "set transaction_read_only = off",
        "select set_config('default_transaction_read_only', 'off', false)",
        "select set_config('transaction_read_only', 'off', false)",
        "reset all",
        "discard all",
    ];

    /// <summary>The writes, each by another route.</summary>
    private static readonly string[] Writes =
    [
        "insert into ro_target values (1)",
        "update ro_target set id = id + 1",
        "create table ro_new(id int)",
        "do $$ begin insert into ro_target values (2); end $$",
        "select write_it()",
        "select nextval('ro_seq')",
        "select lo_creat(-1)",
    ];

    [Fact]
    public async Task On_a_standby_and_on_a_primary_fallback_every_write_fails_with_25006_whatever_the_client_set_first()
    {
        var (t, _, ro) = await ProxyCluster.StartAsync();
        await using var __ = t;
        await PrepareAsync(t);

        await AssertReadOnlyAsync(ro, t.Cluster.Standbys[0].Port);

        // No standby left: the read-only port falls back to the primary (read_only_fallback = primary, the default).
        await t.Cluster.Standbys[0].StopAsync();
        await t.Node.WaitInstanceAsync(1, s => s.Heartbeat != "up", TransparentCluster.Deadline, "the standby to be down");
        await AssertReadOnlyAsync(ro, t.Cluster.Primary.Port);

        Assert.Equal(0L, await t.Cluster.Primary.ScalarAsync<long>("select count(*) from ro_target"));
        Assert.Equal(0L, await t.Cluster.Primary.ScalarAsync<long>("select count(*) from pg_largeobject_metadata"));
        Assert.Equal(1L, await t.Cluster.Primary.ScalarAsync<long>("select last_value from ro_seq"));
    }

    [Fact]
    public async Task Simple_query_copy_from_and_a_fastpath_large_object_call_are_refused_on_the_primary_fallback()
    {
        var (t, _, ro) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        await PrepareAsync(t);
        var port = ro.ToString(CultureInfo.InvariantCulture);

        // psql -c sends each string as one simple Query message.
        foreach (var sql in new[] { "set default_transaction_read_only = off; insert into ro_target values (1)", "begin read write; insert into ro_target values (1); commit", "copy ro_target from stdin" })
        {
            var psql = await ProcessRunner.RunAsync("bash", ["-c", $"echo 5 | psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -h 127.0.0.1 -p {port} -U postgres -c \"{sql}\""], RunAs.Postgres);
            Assert.NotEqual(0, psql.ExitCode);
            Assert.Contains("25006", psql.Output, StringComparison.Ordinal);
        }

        // libpq's lo_creat() is a fastpath FunctionCall message: no executor, no utility hook (psycopg2 wants a transaction for it).
        var script = $$"""
            import psycopg2
            c = psycopg2.connect(host='127.0.0.1', port={{port}}, user='postgres', dbname='postgres')
            c.autocommit = True
            cur = c.cursor()
            cur.execute("select set_config('default_transaction_read_only', 'off', false)")
            cur.execute("show transaction_read_only")
            print('transaction_read_only', cur.fetchone()[0])
            c.autocommit = False
            try:
                c.lobject(0, 'wb')
                print('lobject created')
            except psycopg2.Error as e:
                print('refused:', str(e).strip())
            """;
        var python = await ProcessRunner.RunAsync("/usr/bin/python3", ["-c", script], RunAs.Postgres);
        Assert.True(python.Output.Contains("transaction_read_only on", StringComparison.Ordinal), python.Output);
        // libpq reports a failed fastpath call without its SQLSTATE: the server's message says it was the read-only check.
        Assert.True(python.Output.Contains("cannot execute lo_creat() in a read-only transaction", StringComparison.Ordinal), python.Output);
        Assert.Equal(0L, await t.Cluster.Primary.ScalarAsync<long>("select count(*) from pg_largeobject_metadata"));
        Assert.Equal(0L, await t.Cluster.Primary.ScalarAsync<long>("select count(*) from ro_target"));
    }

    [Fact]
    public async Task A_client_cannot_switch_the_session_setting_off_in_its_startup_packet_or_later()
    {
        var (t, _, ro) = await ProxyCluster.StartAsync(standbys: 0);
        await using var __ = t;
        await PrepareAsync(t);

        await using var connection = await ProxyCluster.OpenAsync(ro, "Options=-c watchdog.read_only_session=off");
        Assert.Equal("on", await ProxyCluster.ScalarAsync<string>(connection, "show watchdog.read_only_session"));
        var error = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.ScalarAsync<object>(connection, "set watchdog.read_only_session = off"));
        Assert.Equal("55P02", error.SqlState);
        Assert.Equal("25006", (await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.ScalarAsync<object>(connection, "insert into ro_target values (1)"))).SqlState);
    }

    [Fact]
    public async Task With_read_only_fallback_none_and_no_standby_the_read_only_port_refuses()
    {
        var (t, _, ro) = await ProxyCluster.StartAsync(standbys: 0, extraConmgrLines: "read_only_fallback = none\n");
        await using var __ = t;

        var error = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.OpenAsync(ro));

        Assert.Equal("08001", error.SqlState);
    }

    [Fact]
    public async Task A_primary_without_the_watchdog_library_is_never_a_read_only_fallback_and_the_log_says_why()
    {
        // A standalone watchdog and no shared_preload_libraries: nothing could keep a session read-only there.
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Standalone });
        await cluster.Primary.StartStandaloneWatchdogAsync();
        var ro = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync($"read_only_port = {ro}\nlisten_addresses = '127.0.0.1'\nheartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\n" + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, s => s.Heartbeat == "up" && s.Role == "primary", TransparentCluster.Deadline, "the primary's link");

        var error = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.OpenAsync(ro));

        Assert.Equal("08001", error.SqlState);
        Assert.Contains("no primary can be a read-only fallback", error.MessageText, StringComparison.Ordinal);
        // The log is written by its own thread: the line may land just after the client's error.
        await Poll.UntilAsync(() => node.Log.Contains("instance 0 cannot be the read-only fallback", StringComparison.Ordinal), TransparentCluster.Deadline, "the skip to be logged");
        Assert.Contains("the watchdog library is not loaded there", node.Log, StringComparison.Ordinal);
    }

    private static async Task PrepareAsync(TransparentCluster t)
    {
        await t.Cluster.Primary.ExecuteAsync("create table ro_target(id int); create sequence ro_seq; create function write_it() returns void language sql as 'insert into ro_target values (3)'");
        await t.Cluster.WaitForReplayAsync();
    }

    /// <summary>Each escape then each write, extended protocol (Npgsql), on a fresh session of the port landing on <paramref name="expectedPort"/>.</summary>
    private static async Task AssertReadOnlyAsync(int port, int expectedPort)
    {
        foreach (var escape in Escapes)
        {
            foreach (var write in Writes)
            {
                await using var connection = await ProxyCluster.OpenAsync(port);
                Assert.Equal(expectedPort, await ProxyCluster.ScalarAsync<int>(connection, "select inet_server_port()"));
                try
                {
                    await ProxyCluster.ScalarAsync<object>(connection, escape);
                }
                catch (PostgresException)
                {
                    // PostgreSQL may refuse the escape itself (a hot standby refuses BEGIN READ WRITE with 0A000): that is fine too.
                }

                var error = await Assert.ThrowsAsync<PostgresException>(() => ProxyCluster.ScalarAsync<object>(connection, write));
                Assert.True(error.SqlState == "25006", $"after \"{escape}\", \"{write}\" failed with {error.SqlState}: {error.MessageText}");
                await ProxyCluster.ScalarAsync<object>(connection, "rollback");
                Assert.Equal("on", await ProxyCluster.ScalarAsync<string>(connection, "show transaction_read_only"));
                Assert.Equal("on", await ProxyCluster.ScalarAsync<string>(connection, "show default_transaction_read_only"));
            }
        }
    }
}
