// BuilderTests.cs: Npgsql's builder features (type plugins, dynamic JSON, logging, the physical connection initializer) work through ConMgrDataSourceBuilder.
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;
using NpgsqlTypes;

namespace ConMgr.IntegrationTests.Transparent;

public sealed class BuilderTests
{
    [Fact]
    public async Task Type_plugins_dynamic_json_npgsql_logging_and_the_initializer_take_effect_through_conmgr()
    {
        await using var t = await TransparentCluster.StartAsync(standbys: 0);
        using var logs = new RecordingLoggerFactory();
        var initialized = new List<int>();
        var builder = new ConMgrDataSourceBuilder($"Host={t.ConMgrHost};Username=postgres;Database=postgres;Target Session Attributes=read-write;Timeout=5");
        builder.UseNodaTime();
        builder.EnableDynamicJson();
        builder.UseLoggerFactory(logs);
        builder.UsePhysicalConnectionInitializer(
            _ => throw new NotSupportedException("these opens are asynchronous"),
            async connection =>
            {
                lock (initialized)
                {
                    initialized.Add(connection.ProcessID);
                }

                await using var command = new NpgsqlCommand("select 1", connection);
                await command.ExecuteScalarAsync();
            });
        await using var source = builder.Build();

        for (var i = 0; i < 3; i++)
        {
            await using var connection = await source.OpenConnectionAsync();
            Assert.Equal(t.Cluster.Primary.Port, connection.Port);

            // NodaTime's plugin: timestamptz reads as an Instant.
            await using var now = new NpgsqlCommand("select now()", connection);
            Assert.IsType<NodaTime.Instant>(await now.ExecuteScalarAsync());

            // Dynamic JSON: a plain record goes in as jsonb.
            await using var json = new NpgsqlCommand("select $1 ->> 'Name'", connection) { Parameters = { new() { Value = new Item("widget"), NpgsqlDbType = NpgsqlDbType.Jsonb } } };
            Assert.Equal("widget", await json.ExecuteScalarAsync());
        }

        // The initializer ran once, for the one physical connection the pool reused three times.
        var pid = Assert.Single(initialized);
        await using (var again = await source.OpenConnectionAsync())
        {
            Assert.Equal(pid, again.ProcessID);
        }

        // Npgsql's own log lines reach the same logger factory.
        Assert.Contains(logs.Entries, e => e.Category.StartsWith("Npgsql", StringComparison.Ordinal));
    }

    private sealed record Item(string Name);
}
