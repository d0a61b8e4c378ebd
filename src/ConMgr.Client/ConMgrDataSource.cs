// ConMgrDataSource.cs: opens PostgreSQL connections through conmgr (two phases) or directly, trying the host list in order.
using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using ConMgr.Client.Diagnostics;
using ConMgr.Client.Resolve;
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// A <see cref="DbDataSource"/> whose connections are plain, open <see cref="NpgsqlConnection"/>s.
/// For each host list entry in order: ask it for an instance (phase one). conmgr answers with
/// host:port and the connection goes there (phase two), watched through conmgr's socket; a conmgr
/// with no matching instance passes to the next entry; a postmaster is connected to directly and
/// checked against the target the way libpq does (<see cref="TargetCheck"/>). Connections are physical (Npgsql pooling off): a connection
/// broken by a loss report can never be handed out again. When an entry's conmgr last named an
/// instance as the only eligible one, phase two starts beside phase one (<see cref="EarlyOpen"/>)
/// and is kept only if conmgr names that instance again.
/// </summary>
public sealed class ConMgrDataSource : DbDataSource
{
    private static readonly ConditionalWeakTable<NpgsqlConnection, ConMgrChannel> Channels = new();
    private readonly NpgsqlConnectionStringBuilder _settings;
    private readonly IReadOnlyList<HostEntry> _hosts;
    private readonly InstanceForecast _forecast;
    private readonly ConcurrentDictionary<(string Host, int Port), string> _phaseTwoStrings = new();

    internal ConMgrDataSource(NpgsqlConnectionStringBuilder settings, bool openEarly)
    {
        _settings = settings;
        _hosts = HostEntry.Parse(settings.Host!, settings.Port);
        _forecast = new InstanceForecast(_hosts.Count);
        OpenEarly = openEarly;
    }

    public override string ConnectionString => _settings.ConnectionString;

    /// <summary>The target asked of conmgr: <c>Target Session Attributes</c>, default <c>any</c>.</summary>
    public string Target => string.IsNullOrEmpty(_settings.TargetSessionAttributes) ? "any" : _settings.TargetSessionAttributes;

    /// <summary>Whether phase two may start beside phase one (<see cref="ConMgrDataSourceBuilder.OpenEarly"/>).</summary>
    public bool OpenEarly { get; }

    public static ConMgrDataSource Create(string connectionString) => new ConMgrDataSourceBuilder(connectionString).Build();

    /// <summary>The conmgr channel of a connection opened through conmgr; null for a direct one (the seed's PQcmSocket = −1).</summary>
    public static ConMgrChannel? GetChannel(NpgsqlConnection connection) =>
        Channels.TryGetValue(connection ?? throw new ArgumentNullException(nameof(connection)), out var channel) ? channel : null;

    public new NpgsqlConnection OpenConnection() => OpenConnectionAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public new async ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var failures = new List<string>();
        NpgsqlConnection? fallback = null;
        HostEntry? fallbackEntry = null;
        var timeout = TimeSpan.FromSeconds(_settings.Timeout > 0 ? _settings.Timeout : 15);
        for (var index = 0; index < _hosts.Count; index++)
        {
            var entry = _hosts[index];
            var (outcome, early) = await AskAsync(index, timeout, cancellationToken);
            switch (outcome)
            {
                case ResolveOutcome.Resolved resolved:
                    if (await OpenResolvedAsync(index, resolved, early, failures, cancellationToken) is not var (connection, openedEarly))
                    {
                        continue;
                    }

                    await DisposeAsync(fallback);
                    ClientMetrics.RecordOpen(openedEarly ? ClientMetrics.OpenedEarly : ClientMetrics.OpenedAfterAnswer, entry.Host, entry.Port, started);
                    return connection;
                case ResolveOutcome.Postmaster:
                    var opened = await OpenAsync(entry.Host, entry.Port, cancellationToken);
                    if (opened.Connection is not { } direct)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        failures.Add($"{entry} (PostgreSQL): {opened.Error}");
                        continue;
                    }

                    switch (await TargetCheck.EvaluateAsync(direct, Target, cancellationToken))
                    {
                        case TargetFit.Match:
                            await DisposeAsync(fallback);
                            ClientMetrics.RecordOpen(ClientMetrics.OpenedDirect, entry.Host, entry.Port, started);
                            return direct;
                        case TargetFit.Fallback when fallback is null:
                            fallback = direct;
                            fallbackEntry = entry;
                            break;
                        default:
                            failures.Add($"{entry} (PostgreSQL): does not match target_session_attrs={Target}");
                            await direct.DisposeAsync();
                            break;
                    }

                    continue;
                case ResolveOutcome.Refused refused:
                    _forecast.Forget(index);
                    failures.Add($"{entry} (conmgr): {refused.SqlState} {refused.Message}");
                    continue;
                case ResolveOutcome.Unreachable unreachable:
                    _forecast.Forget(index);
                    failures.Add($"{entry}: {unreachable.Reason}");
                    continue;
            }
        }

        // prefer-standby / prefer-primary: nothing preferred anywhere, so the acceptable one it is (libpq's second pass).
        if (fallback is not null)
        {
            ClientMetrics.RecordOpen(ClientMetrics.OpenedDirect, fallbackEntry!.Host, fallbackEntry.Port, started);
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

    /// <summary>
    /// Phase one with entry <paramref name="index"/>, with an early open to the forecast instance
    /// beside it. The early open is returned only with a conmgr answer; otherwise it is abandoned here.
    /// </summary>
    private async Task<(ResolveOutcome Outcome, EarlyOpen? Early)> AskAsync(int index, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var early = OpenEarly && _forecast.Predict(index) is { } forecast
            ? EarlyOpen.Start(forecast.Host, forecast.Port, OpenAsync, cancellationToken)
            : null;
        ResolveOutcome outcome;
        try
        {
            var user = _settings.Username ?? Environment.UserName;
            outcome = await ResolveClient.ResolveAsync(_hosts[index], user, _settings.Database ?? user, Target, timeout, cancellationToken);
        }
        catch
        {
            early?.Abandon();
            throw;
        }

        if (outcome is ResolveOutcome.Resolved)
        {
            return (outcome, early);
        }

        early?.Abandon();
        return (outcome, null);
    }

    /// <summary>Phase two for a conmgr answer: the early open if it went to that instance, a fresh open otherwise; null if it failed.</summary>
    private async Task<(NpgsqlConnection Connection, bool OpenedEarly)?> OpenResolvedAsync(int index, ResolveOutcome.Resolved resolved, EarlyOpen? early, List<string> failures, CancellationToken cancellationToken)
    {
        _forecast.Record(index, resolved.Host, resolved.Port, resolved.Candidates);
        OpenResult? taken = null;
        if (early is not null && early.IsFor(resolved.Host, resolved.Port))
        {
            taken = await early.TakeAsync();
        }
        else
        {
            early?.Abandon();
        }

        var openedEarly = taken is not null;
        var opened = taken ?? await OpenAsync(resolved.Host, resolved.Port, cancellationToken);

        if (opened.Connection is not { } connection)
        {
            resolved.Socket.Dispose();
            _forecast.Forget(index);
            cancellationToken.ThrowIfCancellationRequested();
            failures.Add($"{_hosts[index]} sent us to {resolved.Host}:{resolved.Port}: {opened.Error}");
            return null;
        }

        // A lost instance must not be opened early again: forgotten the moment conmgr reports it,
        // before the channel's Lost token tells anyone.
        var channel = new ConMgrChannel(resolved.Socket, connection, _hosts[index], resolved.Number, openedEarly, () => _forecast.Forget(index));
        Channels.AddOrUpdate(connection, channel);
        return (connection, openedEarly);
    }

    /// <summary>A physical Npgsql open of <paramref name="host"/>:<paramref name="port"/> with the data source's settings.</summary>
    private async Task<OpenResult> OpenAsync(string host, int port, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(_phaseTwoStrings.GetOrAdd((host, port), PhaseTwoString));
        try
        {
            await connection.OpenAsync(cancellationToken);
            return new OpenResult(connection, null);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException)
        {
            await connection.DisposeAsync();
            return new OpenResult(null, ex.Message);
        }
    }

    private string PhaseTwoString((string Host, int Port) instance) =>
        new NpgsqlConnectionStringBuilder(_settings.ConnectionString)
        {
            Host = instance.Host,
            Port = instance.Port,
            Pooling = false,
            LoadBalanceHosts = false,
            TargetSessionAttributes = null,
        }.ConnectionString;
}
