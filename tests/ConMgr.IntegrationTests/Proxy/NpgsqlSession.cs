// NpgsqlSession.cs: Npgsql's scripted session through a conmgr port, to the contract of tests/clients/README.md.
using System.Globalization;
using System.Text;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Proxy;

/// <summary>Plain Npgsql (no ConMgr.Client): the same steps as the scripts in tests/clients, as <c>step NAME DETAIL</c> lines.</summary>
public static class NpgsqlSession
{
    /// <param name="options">Added to the connection string (TLS).</param>
    public static async Task<IReadOnlyList<string>> RunAsync(int port, string role, string client, string options = "")
    {
        var lines = new List<string>();
        void Step(string name, object detail) => lines.Add($"step {name} {Convert.ToString(detail, CultureInfo.InvariantCulture)}");
        var readWrite = role == "read-write";
        await using var conn = await ProxyCluster.OpenAsync(port, options);
        await using var watcher = await ProxyCluster.OpenAsync(port, options);

        Step("query", $"recovery={(await ProxyCluster.ScalarAsync<bool>(conn, "select pg_is_in_recovery()") ? "true" : "false")}");

        if (readWrite)
        {
            await using (var rolledBack = await conn.BeginTransactionAsync())
            {
                await InsertAsync(conn, client, 1, 2, 3);
                await rolledBack.RollbackAsync();
            }

            await using (var committed = await conn.BeginTransactionAsync())
            {
                await InsertAsync(conn, client, 1, 2);
                await committed.CommitAsync();
            }

            Step("transaction", $"committed={await ProxyCluster.ScalarAsync<long>(conn, $"select count(*) from client_matrix where client = '{client}'")}");
        }
        else
        {
            await using var transaction = await conn.BeginTransactionAsync();
            await ProxyCluster.ScalarAsync<long>(conn, "select count(*) from client_matrix");
            Step("transaction", $"write={await SqlStateAsync(() => InsertAsync(conn, client, 1))}");
        }

        var doubled = new List<int>();
        await using (var prepared = new NpgsqlCommand("select $1 * 2", conn) { Parameters = { new NpgsqlParameter { Value = 0 } } })
        {
            await prepared.PrepareAsync();
            for (var v = 1; v <= 3; v++)
            {
                prepared.Parameters[0].Value = v;
                doubled.Add((int)(await prepared.ExecuteScalarAsync())!);
            }
        }

        Step("prepared", string.Join(',', doubled));

        using (var export = await conn.BeginTextExportAsync("copy (select g from generate_series(1, 1000) g) to stdout"))
        {
            var rows = (await export.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
            Step("copy_out", $"rows={rows.Count} sum={rows.Sum()}");
        }

        var copyIn = string.Concat(Enumerable.Range(1001, 1000).Select(i => $"{client}\t{i}\n"));
        async Task ImportAsync()
        {
            await using var import = await conn.BeginTextImportAsync("copy client_matrix from stdin");
            await import.WriteAsync(copyIn);
        }

        if (readWrite)
        {
            await ImportAsync();
            Step("copy_in", $"rows={await ProxyCluster.ScalarAsync<long>(conn, $"select count(*) from client_matrix where client = '{client}' and id > 1000")}");
        }
        else
        {
            Step("copy_in", $"refused={await SqlStateAsync(ImportAsync)}");
        }

        var pid = conn.ProcessID;
        var backend = await ProxyCluster.ScalarAsync<int>(conn, "select pg_backend_pid()");
        await using (var sleeping = new NpgsqlCommand("select pg_sleep(30)", conn))
        {
            var run = sleeping.ExecuteScalarAsync();
            await Poll.UntilAsync(async () => await ProxyCluster.ScalarAsync<long>(watcher, $"select count(*) from pg_stat_activity where pid = {backend} and state = 'active' and query like 'select pg_sleep%'") == 1, TransparentCluster.Deadline, "pg_sleep to run");
            sleeping.Cancel();
            var state = await SqlStateAsync(() => run);
            Step("cancel", await ProxyCluster.ScalarAsync<int>(conn, "select 1") == 1 && conn.ProcessID == pid ? state : "session-lost");
        }

        var (bytes, hash) = await RelayTests.ChecksumAsync(conn, RelayTests.BigResultSql);
        Step("big", $"{bytes} {hash.ToLowerInvariant()}");

        if (readWrite)
        {
            await using var listener = await ProxyCluster.OpenAsync(port, options);
            var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            listener.Notification += (_, e) => received.TrySetResult(e.Payload);
            await ProxyCluster.ScalarAsync<object>(listener, $"listen cm_{client}");
            await ProxyCluster.ScalarAsync<object>(watcher, $"notify cm_{client}, 'hello'");
            var wait = listener.WaitAsync(TransparentCluster.Deadline);
            Step("notify", await received.Task.WaitAsync(TransparentCluster.Deadline));
            await wait;
        }

        return lines;
    }

    private static async Task InsertAsync(NpgsqlConnection conn, string client, params int[] ids)
    {
        var values = new StringBuilder();
        foreach (var id in ids)
        {
            values.Append(values.Length == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"('{client}', {id})");
        }

        await using var insert = new NpgsqlCommand($"insert into client_matrix values {values}", conn);
        await insert.ExecuteNonQueryAsync();
    }

    /// <summary>The SQLSTATE of an action that must fail; Npgsql wraps a cancelled command's 57014 in OperationCanceledException.</summary>
    private static async Task<string> SqlStateAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
        catch (OperationCanceledException e) when (e.InnerException is PostgresException inner)
        {
            return inner.SqlState;
        }

        throw new InvalidOperationException("expected an error, got none");
    }
}
