// PooledClients.cs: what the pooling tests share: an Npgsql client of a pooled port as the SCRAM role app, one-value queries, and app's backends on an instance.
using System.Globalization;
using ConMgr.IntegrationTests.Preauth;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Pooling;

internal static class PooledClients
{
    /// <summary>An unpooled Npgsql connection (Npgsql's own pool off) to <paramref name="port"/> as app, named <paramref name="applicationName"/>.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(int port, string applicationName)
    {
        var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={port.ToString(CultureInfo.InvariantCulture)};Username=app;Password={PreauthCluster.Password};Database=postgres;SSL Mode=Disable;Pooling=false;Timeout=30;Command Timeout=60;Include Error Detail=true;Application Name={applicationName}");
        await connection.OpenAsync();
        return connection;
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Client backends of app on <paramref name="instance"/>: the server connections conmgr holds for it.</summary>
    public static Task<long> AppBackendsAsync(PgInstance instance) =>
        instance.ScalarAsync<long>("select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'");
}
