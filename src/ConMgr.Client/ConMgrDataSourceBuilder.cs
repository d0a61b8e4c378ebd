// ConMgrDataSourceBuilder.cs: builds a ConMgrDataSource, wrapping Npgsql's own data source builder so every Npgsql feature applies to every instance.
using System.Diagnostics.CodeAnalysis;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using ConMgr.Client.Pooling;
using ConMgr.Protocol.Postgres;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// Like <see cref="NpgsqlDataSourceBuilder"/>, and built on one: start from a connection string,
/// configure, then <see cref="Build"/>. <c>Host</c> lists conmgr and PostgreSQL addresses, tried
/// in order; <c>Target Session Attributes</c> is what conmgr is asked for. Everything else is
/// Npgsql's: the data source builds one pooled <see cref="NpgsqlDataSource"/> per instance from
/// the wrapped builder, so type plugins (<c>UseNodaTime()</c> works on this builder, which is an
/// <see cref="Npgsql.TypeMapping.INpgsqlTypeMapper"/>), logging, password providers, TLS
/// callbacks and the physical connection initializer behave as they do with Npgsql. A builder
/// builds once: the data source keeps using its configuration for instances it meets later.
/// </summary>
public sealed partial class ConMgrDataSourceBuilder
{
    private readonly NpgsqlDataSourceBuilder _npgsql;
    private Func<NpgsqlConnection, Task>? _initializerAsync;
    private Action<NpgsqlConnection>? _initializer;
    private ILoggerFactory? _loggerFactory;
    private bool _built;

    public ConMgrDataSourceBuilder(string connectionString) =>
        _npgsql = new NpgsqlDataSourceBuilder(connectionString ?? throw new ArgumentNullException(nameof(connectionString)));

    /// <summary>The connection string being built (Npgsql's keywords; <c>Host</c> is the host list).</summary>
    public NpgsqlConnectionStringBuilder ConnectionStringBuilder => _npgsql.ConnectionStringBuilder;

    /// <summary>The data source's name in metrics and logs (Npgsql's <see cref="NpgsqlDataSourceBuilder.Name"/>); by default the user, host list and target.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// Start phase two beside phase one when an entry's conmgr last named an instance as the only
    /// eligible one for the target (default true). The connection is kept only if conmgr names
    /// that instance again; after a role change or failover, one server connection is started and
    /// closed unused. False: strictly one phase after the other.
    /// </summary>
    public bool OpenEarly { get; set; } = true;

    /// <summary>Logs the library's own events (category <c>ConMgr.Client</c>) and Npgsql's, as <see cref="NpgsqlDataSourceBuilder.UseLoggerFactory"/>.</summary>
    public ConMgrDataSourceBuilder UseLoggerFactory(ILoggerFactory? loggerFactory)
    {
        Mutable().UseLoggerFactory(loggerFactory);
        _loggerFactory = loggerFactory;
        return this;
    }

    /// <summary>
    /// Runs after each new physical connection is open, before it is first handed out, as
    /// <see cref="NpgsqlDataSourceBuilder.UsePhysicalConnectionInitializer"/>. The data source
    /// has already attached the connection's conmgr socket by then. Set it here, not through
    /// <see cref="ConfigureNpgsql"/>: the data source needs Npgsql's initializer slot for itself.
    /// </summary>
    public ConMgrDataSourceBuilder UsePhysicalConnectionInitializer(Action<NpgsqlConnection>? connectionInitializer, Func<NpgsqlConnection, Task>? connectionInitializerAsync)
    {
        if ((connectionInitializer is null) != (connectionInitializerAsync is null))
        {
            throw new ArgumentException("both the sync and the async initializer must be given, or neither (as with Npgsql)");
        }

        Mutable();
        _initializer = connectionInitializer;
        _initializerAsync = connectionInitializerAsync;
        return this;
    }

    /// <summary>
    /// Anything else on Npgsql's builder (a feature newer than this library, say). Its physical
    /// connection initializer is replaced by the data source's: use <see cref="UsePhysicalConnectionInitializer"/>.
    /// </summary>
    public ConMgrDataSourceBuilder ConfigureNpgsql(Action<NpgsqlDataSourceBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(Mutable());
        return this;
    }

    public ConMgrDataSourceBuilder EnableParameterLogging(bool parameterLoggingEnabled = true) => Forward(b => b.EnableParameterLogging(parameterLoggingEnabled));

    public ConMgrDataSourceBuilder ConfigureTypeLoading(Action<NpgsqlTypeLoadingOptionsBuilder> configureAction) => Forward(b => b.ConfigureTypeLoading(configureAction));

    public ConMgrDataSourceBuilder ConfigureTracing(Action<NpgsqlTracingOptionsBuilder> configureAction) => Forward(b => b.ConfigureTracing(configureAction));

    public ConMgrDataSourceBuilder ConfigureJsonOptions(JsonSerializerOptions serializerOptions) => Forward(b => b.ConfigureJsonOptions(serializerOptions));

    [RequiresUnreferencedCode("Json serializer may perform reflection on trimmed types.")]
    [RequiresDynamicCode("Serializing arbitrary types to json can require creating new generic types or methods, which requires creating code at runtime. This may not work when AOT compiling.")]
    public ConMgrDataSourceBuilder EnableDynamicJson(Type[]? jsonbClrTypes = null, Type[]? jsonClrTypes = null) => Forward(b => b.EnableDynamicJson(jsonbClrTypes, jsonClrTypes));

    [RequiresUnreferencedCode("The mapping of PostgreSQL records as .NET tuples requires reflection usage which is incompatible with trimming.")]
    [RequiresDynamicCode("The mapping of PostgreSQL records as .NET tuples requires dynamic code usage which is incompatible with NativeAOT.")]
    public ConMgrDataSourceBuilder EnableRecordsAsTuples() => Forward(b => b.EnableRecordsAsTuples());

    [RequiresUnreferencedCode("The use of unmapped enums, ranges or multiranges requires reflection usage which is incompatible with trimming.")]
    [RequiresDynamicCode("The use of unmapped enums, ranges or multiranges requires dynamic code usage which is incompatible with NativeAOT.")]
    public ConMgrDataSourceBuilder EnableUnmappedTypes() => Forward(b => b.EnableUnmappedTypes());

    public ConMgrDataSourceBuilder UseSslClientAuthenticationOptionsCallback(Action<SslClientAuthenticationOptions>? sslClientAuthenticationOptionsCallback) =>
        Forward(b => b.UseSslClientAuthenticationOptionsCallback(sslClientAuthenticationOptionsCallback));

    public ConMgrDataSourceBuilder UseRootCertificate(X509Certificate2? rootCertificate) => Forward(b => b.UseRootCertificate(rootCertificate));

    public ConMgrDataSourceBuilder UseRootCertificates(X509Certificate2Collection? rootCertificates) => Forward(b => b.UseRootCertificates(rootCertificates));

    public ConMgrDataSourceBuilder UseRootCertificateCallback(Func<X509Certificate2>? rootCertificateCallback) => Forward(b => b.UseRootCertificateCallback(rootCertificateCallback));

    public ConMgrDataSourceBuilder UsePeriodicPasswordProvider(Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>>? passwordProvider, TimeSpan successRefreshInterval, TimeSpan failureRefreshInterval) =>
        Forward(b => b.UsePeriodicPasswordProvider(passwordProvider, successRefreshInterval, failureRefreshInterval));

    public ConMgrDataSourceBuilder UsePasswordProvider(Func<NpgsqlConnectionStringBuilder, string>? passwordProvider, Func<NpgsqlConnectionStringBuilder, CancellationToken, ValueTask<string>>? passwordProviderAsync) =>
        Forward(b => b.UsePasswordProvider(passwordProvider, passwordProviderAsync));

    public ConMgrDataSourceBuilder UseNegotiateOptionsCallback(Action<NegotiateAuthenticationClientOptions>? negotiateOptionsCallback) => Forward(b => b.UseNegotiateOptionsCallback(negotiateOptionsCallback));

    public ConMgrDataSource Build()
    {
        var settings = new NpgsqlConnectionStringBuilder(Mutable().ConnectionStringBuilder.ConnectionString);
        if (string.IsNullOrEmpty(settings.Host))
        {
            throw new ArgumentException("the connection string names no Host");
        }

        if (settings.Multiplexing)
        {
            throw new NotSupportedException("Multiplexing is not supported: a multiplexed connection is not one server connection that conmgr can watch");
        }

        var target = Targets.Parse(settings.TargetSessionAttributes);
        _built = true;
        var factory = new InstanceDataSourceFactory(_npgsql, settings.ConnectionString, _initializer, _initializerAsync);
        return new ConMgrDataSource(settings, target, OpenEarly, Name ?? DefaultName(settings, target), factory, _loggerFactory);
    }

    private static string DefaultName(NpgsqlConnectionStringBuilder settings, TargetSessionAttrs target) =>
        $"{settings.Username ?? Environment.UserName}@{settings.Host}/{settings.Database ?? settings.Username}/{target.Name()}";

    private ConMgrDataSourceBuilder Forward(Action<NpgsqlDataSourceBuilder> configure)
    {
        configure(Mutable());
        return this;
    }

    private NpgsqlDataSourceBuilder Mutable() =>
        _built ? throw new InvalidOperationException("this builder has built its data source; the data source keeps its configuration, so make a new builder") : _npgsql;
}
