// ConMgrDataSource.cs: opens PostgreSQL connections through conmgr (two phases) or directly, trying the host list in order.
using System.Data.Common;
using System.Runtime.CompilerServices;
using ConMgr.Client.Resolve;
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// A <see cref="DbDataSource"/> whose connections are plain, open <see cref="NpgsqlConnection"/>s.
/// For each host list entry in order: ask it for an instance (phase one). conmgr answers with
/// host:port and the connection goes there (phase two), watched through conmgr's socket; a conmgr
/// with no matching instance passes to the next entry; a postmaster is connected to directly and
/// checked against the target the way libpq does (<see cref="TargetCheck"/>). Connections are physical (Npgsql pooling off): a connection
/// broken by a loss report can never be handed out again.
/// </summary>
public sealed class ConMgrDataSource : DbDataSource
{
    private static readonly ConditionalWeakTable<NpgsqlConnection, ConMgrChannel> Channels = new();
    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly IReadOnlyList<HostEntry> _hosts;

    internal ConMgrDataSource(NpgsqlConnectionStringBuilder settings)
    {
        _settings = settings;
        _hosts = HostEntry.Parse(settings.Host!, settings.Port);
    }

    public override string ConnectionString => _settings.ConnectionString;

    /// <summary>The target asked of conmgr: <c>Target Session Attributes</c>, default <c>any</c>.</summary>
    public string Target => string.IsNullOrEmpty(_settings.TargetSessionAttributes) ? "any" : _settings.TargetSessionAttributes;

    public static ConMgrDataSource Create(string connectionString) => new ConMgrDataSourceBuilder(connectionString).Build();

    /// <summary>The conmgr channel of a connection opened through conmgr; null for a direct one (the seed's PQcmSocket = −1).</summary>
    public static ConMgrChannel? GetChannel(NpgsqlConnection connection) =>
        Channels.TryGetValue(connection ?? throw new ArgumentNullException(nameof(connection)), out var channel) ? channel : null;

    public new NpgsqlConnection OpenConnection() => OpenConnectionAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public new async ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var failures = new List<string>();
        NpgsqlConnection? fallback = null;
        var timeout = TimeSpan.FromSeconds(_settings.Timeout > 0 ? _settings.Timeout : 15);
        foreach (var entry in _hosts)
        {
            var outcome = await ResolveClient.ResolveAsync(entry, _settings.Username ?? Environment.UserName, _settings.Database ?? _settings.Username ?? Environment.UserName, Target, timeout, cancellationToken);
            switch (outcome)
            {
                case ResolveOutcome.Resolved resolved:
                    var connection = await TryOpenAsync(resolved.Host, resolved.Port, failures, $"{entry} sent us to {resolved.Host}:{resolved.Port}", cancellationToken);
                    if (connection is null)
                    {
                        resolved.Socket.Dispose();
                        continue;
                    }

                    Channels.AddOrUpdate(connection, new ConMgrChannel(resolved.Socket, connection, entry.ToString(), resolved.Number));
                    await DisposeAsync(fallback);
                    return connection;
                case ResolveOutcome.Postmaster:
                    var direct = await TryOpenAsync(entry.Host, entry.Port, failures, $"{entry} (PostgreSQL)", cancellationToken);
                    if (direct is null)
                    {
                        continue;
                    }

                    switch (await TargetCheck.EvaluateAsync(direct, Target, cancellationToken))
                    {
                        case TargetFit.Match:
                            await DisposeAsync(fallback);
                            return direct;
                        case TargetFit.Fallback when fallback is null:
                            fallback = direct;
                            break;
                        default:
                            failures.Add($"{entry} (PostgreSQL): does not match target_session_attrs={Target}");
                            await direct.DisposeAsync();
                            break;
                    }

                    continue;
                case ResolveOutcome.Refused refused:
                    failures.Add($"{entry} (conmgr): {refused.SqlState} {refused.Message}");
                    continue;
                case ResolveOutcome.Unreachable unreachable:
                    failures.Add($"{entry}: {unreachable.Reason}");
                    continue;
            }
        }

        // prefer-standby / prefer-primary: nothing preferred anywhere, so the acceptable one it is (libpq's second pass).
        if (fallback is not null)
        {
            return fallback;
        }

        throw new NpgsqlException(
            $"could not connect to any host for target_session_attrs={Target}: {string.Join("; ", failures)}",
            new IOException("no host in the list could serve the request"));
    }

    protected override DbConnection CreateDbConnection() =>
        throw new NotSupportedException("ConMgrDataSource chooses the instance when a connection opens: use OpenConnection or OpenConnectionAsync");

    protected override DbConnection OpenDbConnection() => OpenConnection();

    protected override async ValueTask<DbConnection> OpenDbConnectionAsync(CancellationToken cancellationToken = default) =>
        await OpenConnectionAsync(cancellationToken);

    private static async Task DisposeAsync(NpgsqlConnection? connection)
    {
        if (connection is not null)
        {
            await connection.DisposeAsync();
        }
    }

    private async Task<NpgsqlConnection?> TryOpenAsync(string host, int port, List<string> failures, string what, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(_settings.ConnectionString)
        {
            Host = host,
            Port = port,
            Pooling = false,
            LoadBalanceHosts = false,
            TargetSessionAttributes = null,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch (NpgsqlException ex)
        {
            await connection.DisposeAsync();
            failures.Add($"{what}: {ex.Message}");
            return null;
        }
    }
}
