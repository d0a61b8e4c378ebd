// Program.cs: an EF Core application on ConMgr: each unit of work is a transaction retried by EF Core's execution strategy
// on a fresh context, so a retry after a failover gets a fresh connection that conmgr routes to the new primary.
using System.Globalization;
using ConMgr.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;

namespace ConMgr.Example.EfCore;

public static class Program
{
    /// <summary>How long a read waits for the standby to replay the writes before it gives up.</summary>
    private static readonly TimeSpan ReplayTimeout = TimeSpan.FromSeconds(30);

    /// <summary>usage: cm_example_efcore HOSTS [USER] [UNITS] [SLOW_UNIT] — SLOW_UNIT's first attempt holds its transaction open (a failover can happen meanwhile).</summary>
    public static async Task<int> Main(string[] args)
    {
        var hosts = args.Length > 0 ? args[0] : "localhost:27546";
        var user = args.Length > 1 ? args[1] : "postgres";
        var units = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        var slowUnit = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 0;

        // Two ConMgr data sources, one per target, and a context type on each: the read/write split.
        var common = $"Host={hosts};Username={user};Database=postgres;Timeout=5";
        var services = new ServiceCollection();
        services.AddConMgrDataSource($"{common};Target Session Attributes=read-write", serviceKey: "writes");
        services.AddConMgrDataSource($"{common};Target Session Attributes=prefer-standby", serviceKey: "reads");
        services.AddDbContextFactory<ShopWriteContext>((sp, options) =>
            options.UseNpgsql(sp.GetRequiredKeyedService<ConMgrDataSource>("writes"), Retries));
        services.AddDbContextFactory<ShopReadContext>((sp, options) =>
            options.UseNpgsql(sp.GetRequiredKeyedService<ConMgrDataSource>("reads"), Retries).UseQueryTrackingBehavior(QueryTrackingBehavior.NoTracking));
        await using var provider = services.BuildServiceProvider();
        var writes = provider.GetRequiredService<IDbContextFactory<ShopWriteContext>>();
        var reads = provider.GetRequiredService<IDbContextFactory<ShopReadContext>>();

        await InUnitOfWorkAsync(writes, async (db, _) => await db.Database.ExecuteSqlRawAsync(ShopContext.Schema));

        for (var unit = 1; unit <= units; unit++)
        {
            var (port, attempts) = await InUnitOfWorkAsync(writes, async (db, attempt) =>
            {
                db.Orders.Add(new Order { Unit = unit, Item = $"widget {unit}" });
                await db.SaveChangesAsync();
                if (unit == slowUnit && attempt == 1)
                {
                    Console.WriteLine($"unit {unit} in flight");
                    await db.Database.ExecuteSqlRawAsync("select pg_sleep(60)");
                }
            });
            Console.WriteLine($"unit {unit} committed on port {port} after {attempts} attempt(s)");
        }

        // A standby replays the primary's WAL a little later: to read our own writes, wait until it has.
        // pg_current_wal_insert_lsn(), not pg_current_wal_lsn(): with synchronous_commit = off a
        // commit may be inserted but not yet written, and the write position would miss it.
        var written = "0/0";
        await InUnitOfWorkAsync(writes, async (db, _) =>
            written = await db.Database.SqlQueryRaw<string>("select pg_current_wal_insert_lsn()::text as \"Value\"").SingleAsync());

        await using (var outer = await reads.CreateDbContextAsync())
        {
            var (count, port) = await outer.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            {
                await using var db = await reads.CreateDbContextAsync();
                await db.Database.OpenConnectionAsync();
                var deadline = DateTime.UtcNow + ReplayTimeout;
                while (await db.Database.SqlQueryRaw<bool>("select pg_is_in_recovery() and coalesce(pg_last_wal_replay_lsn() < {0}::pg_lsn, true) as \"Value\"", written).SingleAsync())
                {
                    if (DateTime.UtcNow > deadline)
                    {
                        throw new TimeoutException($"the standby did not replay {written} within {ReplayTimeout.TotalSeconds} s");
                    }

                    await Task.Delay(10);
                }

                var count = await db.Orders.CountAsync();
                return (count, ((NpgsqlConnection)db.Database.GetDbConnection()).Port);
            });
            Console.WriteLine($"read {count} order(s) on port {port}");
        }

        return 0;
    }

    /// <summary>EF Core's retrying strategy for Npgsql: a transient NpgsqlException (instance lost, role changed, conmgr gone, no primary yet) is retried.</summary>
    private static void Retries(NpgsqlDbContextOptionsBuilder npgsql) =>
        npgsql.EnableRetryOnFailure(maxRetryCount: 15, maxRetryDelay: TimeSpan.FromSeconds(1), errorCodesToAdd: null);

    /// <summary>
    /// One transaction, retried as a whole by the execution strategy. Each attempt uses a new
    /// context: its connection is created anew from the ConMgr data source, so after a failover
    /// it goes where conmgr now says. (A context kept across attempts keeps its connection, and
    /// that connection's instance; see docs/client.md.) Returns the port it committed on.
    /// </summary>
    private static async Task<(int Port, int Attempts)> InUnitOfWorkAsync<TContext>(IDbContextFactory<TContext> factory, Func<TContext, int, Task> work)
        where TContext : DbContext
    {
        var attempts = 0;
        await using var outer = await factory.CreateDbContextAsync();
        var port = await outer.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            attempts++;
            await using var db = await factory.CreateDbContextAsync();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await work(db, attempts);
            var port = ((NpgsqlConnection)db.Database.GetDbConnection()).Port; // the instance conmgr chose (EF closes the connection at commit)
            await transaction.CommitAsync();
            return port;
        });
        return (port, attempts);
    }
}
