// ConMgrServiceCollectionExtensions.cs: registers a ConMgrDataSource in a Microsoft.Extensions.DependencyInjection container.
using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;

namespace ConMgr.Client;

public static class ConMgrServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="ConMgrDataSource"/> as a singleton, also as <see cref="DbDataSource"/>.
    /// With <paramref name="serviceKey"/> both are keyed services (as Npgsql's <c>AddNpgsqlDataSource</c>
    /// does), so one application can hold a read-write and a read-only data source side by side.
    /// </summary>
    public static IServiceCollection AddConMgrDataSource(this IServiceCollection services, string connectionString, Action<ConMgrDataSourceBuilder>? configure = null, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ConMgrDataSource Build()
        {
            var builder = new ConMgrDataSourceBuilder(connectionString);
            configure?.Invoke(builder);
            return builder.Build();
        }

        if (serviceKey is null)
        {
            services.AddSingleton(_ => Build());
            services.AddSingleton<DbDataSource>(sp => sp.GetRequiredService<ConMgrDataSource>());
        }
        else
        {
            services.AddKeyedSingleton(serviceKey, (_, _) => Build());
            services.AddKeyedSingleton<DbDataSource>(serviceKey, (sp, key) => sp.GetRequiredKeyedService<ConMgrDataSource>(key));
        }

        return services;
    }
}
