// ClientConfigurationTests.cs: the client library's host-list parsing, DI registration and refusal to hand out unopened connections.
using System.Data.Common;
using ConMgr.Client;
using ConMgr.Client.Resolve;
using Microsoft.Extensions.DependencyInjection;

namespace ConMgr.UnitTests.Client;

public sealed class ClientConfigurationTests
{
    [Fact]
    public void Host_lists_parse_like_npgsql()
    {
        var hosts = HostEntry.Parse("localhost:27546, db1, [::1]:5433, 10.0.0.7:6000, fe80::1", 5432);

        Assert.Equal(
            [new("localhost", 27546), new("db1", 5432), new("::1", 5433), new("10.0.0.7", 6000), new HostEntry("fe80::1", 5432)],
            hosts);
        Assert.Equal("[::1]:5433", hosts[2].ToString());
    }

    [Fact]
    public void Di_registers_one_data_source_also_as_DbDataSource()
    {
        var services = new ServiceCollection();
        var configured = false;

        services.AddConMgrDataSource("Host=localhost:27546;Username=app;Target Session Attributes=read-write", b => configured = b.ConnectionStringBuilder.Username == "app");

        var dataSource = Assert.Single(services, d => d.ServiceType == typeof(ConMgrDataSource));
        var asDb = Assert.Single(services, d => d.ServiceType == typeof(DbDataSource));
        Assert.Equal(ServiceLifetime.Singleton, dataSource.Lifetime);
        Assert.Equal(ServiceLifetime.Singleton, asDb.Lifetime);
        var built = (ConMgrDataSource)dataSource.ImplementationFactory!(new NullServices());
        Assert.True(configured);
        Assert.Equal("read-write", built.Target);
    }

    [Fact]
    public void Unopened_connections_are_refused_because_the_instance_is_chosen_at_open()
    {
        using var source = ConMgrDataSource.Create("Host=localhost;Username=app");

        Assert.Throws<NotSupportedException>(() => source.CreateConnection());
        Assert.Equal("any", source.Target);
    }

    private sealed class NullServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
