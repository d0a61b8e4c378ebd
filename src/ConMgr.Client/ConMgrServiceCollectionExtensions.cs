// ConMgrServiceCollectionExtensions.cs: registers a ConMgrDataSource in a Microsoft.Extensions.DependencyInjection container.
using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;

namespace ConMgr.Client;

public static class ConMgrServiceCollectionExtensions
{
    /// <summary>Registers one <see cref="ConMgrDataSource"/> as a singleton, also as <see cref="DbDataSource"/>.</summary>
    public static IServiceCollection AddConMgrDataSource(this IServiceCollection services, string connectionString, Action<ConMgrDataSourceBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(_ =>
        {
            var builder = new ConMgrDataSourceBuilder(connectionString);
            configure?.Invoke(builder);
            return builder.Build();
        });
        services.AddSingleton<DbDataSource>(sp => sp.GetRequiredService<ConMgrDataSource>());
        return services;
    }
}
