// ScriptedBackend.cs: conmgr whose instance 0 is a scripted listener, its heartbeat from a real primary's watchdog: for server behaviour PostgreSQL will not produce.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

/// <summary>
/// conmgr.conf points backend_port0 at <see cref="Server"/>, a listener the test scripts, and
/// watchdog_port0 at the real primary's watchdog, so the instance is up and primary while every
/// byte "it" sends is the test's. Clients connect to <see cref="ReadWritePort"/>.
/// </summary>
public sealed class ScriptedBackend : IAsyncDisposable
{
    private ScriptedBackend(PgCluster cluster, TcpListener server, ConMgrNode node, int readWritePort)
    {
        Cluster = cluster;
        Server = server;
        Node = node;
        ReadWritePort = readWritePort;
    }

    /// <summary>The real primary whose watchdog keeps instance 0's heartbeat (freeze it to lose the heartbeat).</summary>
    public PgCluster Cluster { get; }

    public TcpListener Server { get; }

    public ConMgrNode Node { get; }

    public int ReadWritePort { get; }

    /// <param name="backendSslMode">conmgr's backend_sslmode toward the script (disable: the script speaks no SSL negotiation).</param>
    public static async Task<ScriptedBackend> StartAsync(string backendSslMode)
    {
        var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = TransparentCluster.CheckAttrIntervalMs });
        var server = new TcpListener(IPAddress.Loopback, 0);
        ConMgrNode? node = null;
        try
        {
            server.Start();
            var rw = FreePort.Next();
            node = await ConMgrNode.CreateAsync(
                $"heartbeat_interval = 200ms\nheartbeat_timeout = 1s\nlog_min_messages = log\nlisten_addresses = '127.0.0.1'\nread_write_port = {rw}\nbackend_sslmode = {backendSslMode}\nbackend_sslrootcert = system\n" + ConMgrNode.SecretLine(cluster) +
                $"backend_hostaddr0 = '127.0.0.1'\nbackend_port0 = {((IPEndPoint)server.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture)}\nwatchdog_port0 = {cluster.Primary.WatchdogPort.ToString(CultureInfo.InvariantCulture)}\n");
            await node.StartAsync();
            await node.WaitInstanceAsync(0, s => s.Heartbeat == "up" && s.Role == "primary", TransparentCluster.Deadline, "the primary's heartbeat");
            return new ScriptedBackend(cluster, server, node, rw);
        }
        catch
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }

            server.Dispose();
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Node.DisposeAsync();
        Server.Dispose();
        await Cluster.DisposeAsync();
    }
}
