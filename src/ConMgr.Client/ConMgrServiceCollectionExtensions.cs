// ConMgrServiceCollectionExtensions.cs: registers a ConMgrDataSource in a Microsoft.Extensions.DependencyInjection container.
using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ConMgr.Client;

public static class ConMgrServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="ConMgrDataSource"/> as a singleton, also as <see cref="DbDataSource"/>.
    /// With <paramref name="serviceKey"/> both are keyed services (as Npgsql's <c>AddNpgsqlDataSource</c>
    /// does), so one application can hold a read-write and a read-only data source side by side.
    /// The container's <see cref="ILoggerFactory"/>, if it has one, is used unless
    /// <paramref name="configure"/> sets another (as <c>AddNpgsqlDataSource</c> does).
    /// </summary>
    public static IServiceCollection AddConMgrDataSource(this IServiceCollection services, string connectionString, Action<ConMgrDataSourceBuilder>? configure = null, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ConMgrDataSource Build(IServiceProvider provider)
        {
            var builder = new ConMgrDataSourceBuilder(connectionString);
            if (provider.GetService(typeof(ILoggerFactory)) is ILoggerFactory loggerFactory)
            {
                builder.UseLoggerFactory(loggerFactory);
            }

            configure?.Invoke(builder);
            return builder.Build();
        }

        if (serviceKey is null)
        {
            services.AddSingleton(Build);
            services.AddSingleton<DbDataSource>(sp => sp.GetRequiredService<ConMgrDataSource>());
        }
        else
        {
            services.AddKeyedSingleton(serviceKey, (provider, _) => Build(provider));
            services.AddKeyedSingleton<DbDataSource>(serviceKey, (sp, key) => sp.GetRequiredKeyedService<ConMgrDataSource>(key));
        }

        return services;
    }
}
