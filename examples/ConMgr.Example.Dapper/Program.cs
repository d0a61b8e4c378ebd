// Program.cs: a Dapper application on ConMgr: each unit of work is a transaction on a connection from a ConMgr data source,
// retried on a transient NpgsqlException, so a retry after a failover gets a connection conmgr routes to the new primary.
using System.Globalization;
using ConMgr.Client;
using Dapper;
using Npgsql;

namespace ConMgr.Example.Dapper;

public static class Program
{
    /// <summary>How long a read waits for the standby to replay the writes before it gives up.</summary>
    private static readonly TimeSpan ReplayTimeout = TimeSpan.FromSeconds(30);

    /// <summary>usage: cm_example_dapper HOSTS [USER] [UNITS] [SLOW_UNIT] — SLOW_UNIT's first attempt holds its transaction open (a failover can happen meanwhile).</summary>
    public static async Task<int> Main(string[] args)
    {
        var hosts = args.Length > 0 ? args[0] : "localhost:27546";
        var user = args.Length > 1 ? args[1] : "postgres";
        var units = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        var slowUnit = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 0;

        var common = $"Host={hosts};Username={user};Database=postgres;Timeout=5";
        await using var writes = ConMgrDataSource.Create($"{common};Target Session Attributes=read-write");
        await using var reads = ConMgrDataSource.Create($"{common};Target Session Attributes=prefer-standby");

        await InUnitOfWorkAsync(writes, (connection, transaction, _) =>
            connection.ExecuteAsync("create table if not exists cm_dapper_orders (id bigint generated always as identity primary key, unit int not null unique, item text not null)", transaction: transaction));

        for (var unit = 1; unit <= units; unit++)
        {
            var (port, attempts) = await InUnitOfWorkAsync(writes, async (connection, transaction, attempt) =>
            {
                await connection.ExecuteAsync("insert into cm_dapper_orders (unit, item) values (@unit, @item)", new { unit, item = $"widget {unit}" }, transaction);
                if (unit == slowUnit && attempt == 1)
                {
                    Console.WriteLine($"unit {unit} in flight");
                    await connection.ExecuteAsync("select pg_sleep(60)", transaction: transaction);
                }
            });
            Console.WriteLine($"unit {unit} committed on port {port} after {attempts} attempt(s)");
        }

        // A standby replays the primary's WAL a little later: to read our own writes, wait until it has.
        // pg_current_wal_insert_lsn(), not pg_current_wal_lsn(): with synchronous_commit = off a
        // commit may be inserted but not yet written, and the write position would miss it.
        string written;
        await using (var connection = await writes.OpenConnectionAsync())
        {
            written = await connection.ExecuteScalarAsync<string>("select pg_current_wal_insert_lsn()::text") ?? "0/0";
        }

        await using (var connection = await reads.OpenConnectionAsync())
        {
            var deadline = DateTime.UtcNow + ReplayTimeout;
            while (await connection.ExecuteScalarAsync<bool>("select pg_is_in_recovery() and coalesce(pg_last_wal_replay_lsn() < @written::pg_lsn, true)", new { written }))
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"the standby did not replay {written} within {ReplayTimeout.TotalSeconds} s");
                }

                await Task.Delay(10);
            }

            var count = await connection.ExecuteScalarAsync<long>("select count(*) from cm_dapper_orders");
            Console.WriteLine($"read {count} order(s) on port {connection.Port}");
        }

        return 0;
    }

    /// <summary>
    /// One transaction, retried as a whole on a transient failure (instance lost, role changed,
    /// conmgr gone, no primary yet), each attempt on a connection opened anew: after a failover,
    /// conmgr sends it to the new primary. Returns the port it committed on and the attempts it took.
    /// </summary>
    private static async Task<(int Port, int Attempts)> InUnitOfWorkAsync(ConMgrDataSource source, Func<NpgsqlConnection, NpgsqlTransaction, int, Task> work)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await source.OpenConnectionAsync();
                await using var transaction = await connection.BeginTransactionAsync();
                await work(connection, transaction, attempt);
                await transaction.CommitAsync();
                return (connection.Port, attempt);
            }
            catch (NpgsqlException ex) when (ex.IsTransient && attempt < 15)
            {
                Console.WriteLine($"attempt {attempt} failed: {ex.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 100 * attempt)));
            }
        }
    }
}
