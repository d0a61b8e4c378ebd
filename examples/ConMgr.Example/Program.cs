// Program.cs: the example application of docs/client.md: writes go to the primary and reads to a standby, both chosen by
// conmgr; a lost instance is retried as a transient failure.
using System.Data.Common;
using ConMgr.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace ConMgr.Example;

public static class Program
{
    /// <summary>usage: cm_example [HOSTS] [USER] — HOSTS lists conmgr and/or PostgreSQL addresses (default localhost:27546).</summary>
    public static async Task<int> Main(string[] args)
    {
        var hosts = args.Length > 0 ? args[0] : "localhost:27546";
        var user = args.Length > 1 ? args[1] : "postgres";

        // One data source per target. Host lists conmgr and PostgreSQL addresses, tried in order;
        // Target Session Attributes is what conmgr is asked for.
        var common = $"Host={hosts};Username={user};Database=postgres;Timeout=5";
        var services = new ServiceCollection();
        services.AddConMgrDataSource($"{common};Target Session Attributes=read-write", serviceKey: "writes");
        services.AddConMgrDataSource($"{common};Target Session Attributes=prefer-standby", serviceKey: "reads");
        await using var provider = services.BuildServiceProvider();
        var writes = provider.GetRequiredKeyedService<ConMgrDataSource>("writes");
        var reads = provider.GetRequiredKeyedService<DbDataSource>("reads");

        await WithRetriesAsync("create table", async () =>
        {
            await using var connection = await writes.OpenConnectionAsync();
            await ExecuteAsync(connection, "create table if not exists cm_example_orders (id bigint generated always as identity primary key, item text not null)");
        });

        string? writtenAt = null;
        await WithRetriesAsync("write", async () =>
        {
            await using var connection = await writes.OpenConnectionAsync();

            // connection.Host/Port are the instance conmgr chose (the seed's PQhost/PQport), not conmgr's address.
            var via = connection.GetConMgrSocket() is null ? "directly" : $"via conmgr {connection.GetConMgrChannel()!.ConMgr}";
            var id = await ExecuteAsync(connection, "insert into cm_example_orders (item) values ('widget') returning id");
            // The insert position, read right after the commit: it includes the commit record even
            // with synchronous_commit = off, where the write position (pg_current_wal_lsn) may not yet.
            writtenAt = (string?)await ExecuteAsync(connection, "select pg_current_wal_insert_lsn()::text");
            Console.WriteLine($"wrote order {id} on {connection.Host}:{connection.Port} ({via})");
        });

        await WithRetriesAsync("read", async () =>
        {
            // A DbDataSource like any other: Dapper or EF Core would take this connection unchanged.
            await using var connection = await reads.OpenConnectionAsync();
            var npgsql = (NpgsqlConnection)connection;

            // A standby replays the primary's WAL a little later: to read our own write, wait until it has.
            await WaitForReplayAsync(npgsql, writtenAt!, TimeSpan.FromSeconds(10));
            var role = await ExecuteAsync(npgsql, "select case when pg_is_in_recovery() then 'standby' else 'primary' end");
            var orders = await ExecuteAsync(npgsql, "select count(*) from cm_example_orders");
            Console.WriteLine($"read {orders} order(s) on the {role} {npgsql.Host}:{npgsql.Port}");
        });

        return 0;
    }

    /// <summary>
    /// A retry policy of the usual shape: a transient NpgsqlException (instance lost, role changed,
    /// conmgr gone, no instance yet) is retried on a fresh connection, which conmgr routes anew.
    /// </summary>
    private static async Task WithRetriesAsync(string what, Func<Task> action)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await action();
                return;
            }
            catch (NpgsqlException ex) when (ex.IsTransient && attempt < 5)
            {
                Console.WriteLine($"{what}: attempt {attempt} failed ({ex.Message}); retrying");
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
            }
        }
    }

    /// <summary>Waits until <paramref name="connection"/>'s server has replayed WAL up to <paramref name="lsn"/> (at once on a primary).</summary>
    private static async Task WaitForReplayAsync(NpgsqlConnection connection, string lsn, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var behind = new NpgsqlCommand("select pg_is_in_recovery() and coalesce(pg_last_wal_replay_lsn() < $1::pg_lsn, true)", connection);
        behind.Parameters.Add(new NpgsqlParameter { Value = lsn });
        while (await behind.ExecuteScalarAsync() is true)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the standby did not replay {lsn} within {timeout.TotalSeconds} s");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    private static async Task<object?> ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
