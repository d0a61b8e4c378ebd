// TransparentCluster.cs: a primary, its standbys with watchdogs, and a conmgr watching them: what the transparent-connection tests share.
using System.Globalization;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.IntegrationTests.Transparent;

/// <summary>A cluster and a conmgr whose links are all up; helpers to open connections through it.</summary>
public sealed class TransparentCluster : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    public const int CheckAttrIntervalMs = 500;

    private TransparentCluster(PgCluster cluster, ConMgrNode node)
    {
        Cluster = cluster;
        Node = node;
    }

    public PgCluster Cluster { get; }

    public ConMgrNode Node { get; }

    /// <summary>"127.0.0.1:port" of conmgr, for a Host list.</summary>
    public string ConMgrHost => $"127.0.0.1:{Node.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <remarks>conmgr.conf refuses a parameter set twice: <paramref name="heartbeatTimeout"/> and <paramref name="logMinMessages"/> replace the defaults here.</remarks>
    public static async Task<TransparentCluster> StartAsync(int standbys = 1, string extraConmgrLines = "", int checkAttrIntervalMs = CheckAttrIntervalMs, string heartbeatTimeout = "1s", string logMinMessages = "log", IReadOnlyDictionary<string, string>? conmgrEnvironment = null, IReadOnlyList<string>? serverSettings = null)
    {
        var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = standbys, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = checkAttrIntervalMs, ExtraSettings = serverSettings ?? [] });
        try
        {
            var node = await ConMgrNode.CreateAsync(
                $"heartbeat_interval = 200ms\nheartbeat_timeout = {heartbeatTimeout}\nheartbeat_connect_interval = 200ms\nheartbeat_connect_timeout = 2s\nlog_min_messages = {logMinMessages}\n"
                + extraConmgrLines + ConMgrNode.InstanceLines(cluster));
            foreach (var (name, value) in conmgrEnvironment ?? new Dictionary<string, string>())
            {
                node.Environment[name] = value;
            }

            await node.StartAsync();
            for (var i = 0; i < cluster.Instances.Count; i++)
            {
                await node.WaitInstanceAsync(i, s => s.Heartbeat == "up" && s.Role != "unknown", Deadline, $"instance {i}'s link");
            }

            return new TransparentCluster(cluster, node);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>A data source over <paramref name="hosts"/> (default: this conmgr) asking for <paramref name="target"/>; <paramref name="pooling"/> false makes every open a new server connection.</summary>
    public ConMgrDataSource DataSource(string target, string? hosts = null, int timeoutSeconds = 5, bool pooling = true, string extra = "") =>
        ConMgrDataSource.Create($"Host={hosts ?? ConMgrHost};Username=postgres;Database=postgres;Target Session Attributes={target};Timeout={timeoutSeconds};Command Timeout=60;Pooling={pooling};{extra}");

    /// <summary>
    /// Starts <paramref name="sql"/> on <paramref name="connection"/> and returns once the primary
    /// shows it active: the returned task is the query's own.
    /// </summary>
    public async Task<Task<object?>> InFlightAsync(NpgsqlConnection connection, string sql)
    {
        var query = RunAsync();
        await Poll.UntilAsync(async () => await Cluster.Primary.ScalarAsync<long>($"select count(*) from pg_stat_activity where query = '{sql.Replace("'", "''", StringComparison.Ordinal)}' and state = 'active'") == 1, Deadline, "the query in flight");
        return query;

        async Task<object?> RunAsync()
        {
            await using var command = new NpgsqlCommand(sql, connection);
            return await command.ExecuteScalarAsync();
        }
    }

    /// <summary>Which instance a connection landed on.</summary>
    public PgInstance InstanceOf(NpgsqlConnection connection) => Cluster.Instances.Single(i => i.Port == connection.Port);

    public async ValueTask DisposeAsync()
    {
        await Node.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}
