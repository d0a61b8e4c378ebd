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
    public void Di_registers_keyed_data_sources_side_by_side()
    {
        var services = new ServiceCollection();

        services.AddConMgrDataSource("Host=localhost:27546;Target Session Attributes=read-write", serviceKey: "writes");
        services.AddConMgrDataSource("Host=localhost:27546;Target Session Attributes=prefer-standby", serviceKey: "reads");

        var writes = Assert.Single(services, d => d.ServiceType == typeof(ConMgrDataSource) && Equals(d.ServiceKey, "writes"));
        var reads = Assert.Single(services, d => d.ServiceType == typeof(ConMgrDataSource) && Equals(d.ServiceKey, "reads"));
        Assert.Equal(2, services.Count(d => d.ServiceType == typeof(DbDataSource) && d.IsKeyedService));
        Assert.DoesNotContain(services, d => !d.IsKeyedService);
        using var writer = (ConMgrDataSource)writes.KeyedImplementationFactory!(new NullServices(), "writes");
        using var reader = (ConMgrDataSource)reads.KeyedImplementationFactory!(new NullServices(), "reads");
        Assert.Equal(("read-write", "prefer-standby"), (writer.Target, reader.Target));
    }

    [Fact]
    public void First_unopened_connection_learns_an_instance_by_opening_one_and_fails_like_an_open_when_none_answers()
    {
        using var source = ConMgrDataSource.Create("Host=127.0.0.1:1;Username=app;Timeout=2");

        var error = Assert.Throws<Npgsql.NpgsqlException>(() => source.CreateConnection());

        Assert.True(error.IsTransient);
        Assert.Contains("127.0.0.1:1", error.Message, StringComparison.Ordinal);
        Assert.Equal("any", source.Target);
        Assert.Equal(Npgsql.TargetSessionAttributes.Any, source.TargetSessionAttributes);
    }

    [Theory]
    [InlineData("read-write", Npgsql.TargetSessionAttributes.ReadWrite)]
    [InlineData("Prefer-Standby", Npgsql.TargetSessionAttributes.PreferStandby)]
    [InlineData("", Npgsql.TargetSessionAttributes.Any)]
    public void Target_is_parsed_once_and_named_as_npgsql_names_it(string text, Npgsql.TargetSessionAttributes npgsql)
    {
        using var source = ConMgrDataSource.Create($"Host=127.0.0.1:1;Target Session Attributes={text}");

        Assert.Equal(npgsql, source.TargetSessionAttributes);
    }

    [Fact]
    public void A_builder_builds_once_and_refuses_what_conmgr_cannot_watch()
    {
        var builder = new ConMgrDataSourceBuilder("Host=127.0.0.1:1;Password=secret");
        using var source = builder.Build();

        Assert.Throws<InvalidOperationException>(() => builder.Build());
        Assert.Throws<InvalidOperationException>(() => builder.EnableParameterLogging());
        Assert.DoesNotContain("secret", source.ConnectionString, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => new ConMgrDataSourceBuilder("Host=127.0.0.1:1;Multiplexing=true").Build());
    }

    private sealed class NullServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
