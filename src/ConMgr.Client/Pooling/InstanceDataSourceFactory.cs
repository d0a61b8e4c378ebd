// InstanceDataSourceFactory.cs: builds one pooled NpgsqlDataSource per instance from the application's one NpgsqlDataSourceBuilder.
using Npgsql;

namespace ConMgr.Client.Pooling;

/// <summary>
/// The wrapped <see cref="NpgsqlDataSourceBuilder"/> keeps every plugin, callback and setting the
/// application gave it. For an instance it is pointed at that instance's address and built
/// again (Npgsql's Build copies the configuration, so each build is independent), with the data
/// source's physical connection initializer in front of the application's.
/// </summary>
internal sealed class InstanceDataSourceFactory(
    NpgsqlDataSourceBuilder builder,
    string connectionString,
    Action<NpgsqlConnection>? initializer,
    Func<NpgsqlConnection, Task>? initializerAsync)
{
    private readonly Lock _lock = new();

    /// <summary>Whether connections are pooled (Npgsql's <c>Pooling</c>, default true).</summary>
    public bool Pooling { get; } = new NpgsqlConnectionStringBuilder(connectionString).Pooling;

    /// <param name="attach">Runs first on every new physical connection: gives it its conmgr lease (or checks a direct one).</param>
    public NpgsqlDataSource Build(string host, int port, string name, Func<NpgsqlConnection, Task> attach)
    {
        lock (_lock)
        {
            var settings = builder.ConnectionStringBuilder;
            settings.ConnectionString = connectionString;
            settings.Host = host;
            settings.Port = port;
            settings.TargetSessionAttributes = null;
            settings.LoadBalanceHosts = false;
            builder.Name = name;
            builder.UsePhysicalConnectionInitializer(
                connection =>
                {
                    attach(connection).GetAwaiter().GetResult();
                    initializer?.Invoke(connection);
                },
                async connection =>
                {
                    await attach(connection);
                    if (initializerAsync is not null)
                    {
                        await initializerAsync(connection);
                    }
                });
            return builder.Build();
        }
    }
}
