// NetworkLink.cs: two network namespaces joined by a veth pair: a server host and a client host whose link a test can cut.
using System.Globalization;

namespace ConMgr.Testing;

/// <summary>
/// A "server host" namespace (10.77.0.1) and a "client host" namespace (10.77.0.2) joined by a
/// veth pair, each with only loopback and that link: no default route, so nothing can leave the
/// machine. <see cref="CutAsync"/> drops every packet on the link with iptables inside the server
/// namespace (both directions), which is what a pulled cable looks like to TCP: silence, then
/// retransmissions into the void. Needs root.
/// </summary>
public sealed class NetworkLink : IAsyncDisposable
{
    public const string ServerAddress = "10.77.0.1";
    public const string ClientAddress = "10.77.0.2";

    private static int s_counter;

    private NetworkLink(string server, string client, string serverDevice)
    {
        ServerNamespace = server;
        ClientNamespace = client;
        ServerDevice = serverDevice;
    }

    public string ServerNamespace { get; }

    public string ClientNamespace { get; }

    private string ServerDevice { get; }

    public static async Task<NetworkLink> CreateAsync()
    {
        var id = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId % 100000}x{Interlocked.Increment(ref s_counter)}");
        var link = new NetworkLink($"cms{id}", $"cmc{id}", $"vs{id}");
        var clientDevice = $"vc{id}";
        try
        {
            await IpAsync("netns", "add", link.ServerNamespace);
            await IpAsync("netns", "add", link.ClientNamespace);
            await IpAsync("link", "add", link.ServerDevice, "netns", link.ServerNamespace, "type", "veth", "peer", "name", clientDevice, "netns", link.ClientNamespace);
            await ConfigureAsync(link.ServerNamespace, link.ServerDevice, ServerAddress);
            await ConfigureAsync(link.ClientNamespace, clientDevice, ClientAddress);
            return link;
        }
        catch
        {
            await link.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Options for a cluster on the server host: listening on <see cref="ServerAddress"/> inside
    /// <see cref="ServerNamespace"/>, each instance with its launched watchdog.
    /// </summary>
    public PgClusterOptions ServerCluster(int standbys, int checkAttrIntervalMs) => new()
    {
        Standbys = standbys,
        Host = ServerAddress,
        NetworkNamespace = ServerNamespace,
        Watchdog = WatchdogMode.Launcher,
        CheckAttrIntervalMs = checkAttrIntervalMs,
    };

    /// <summary>Drops every packet on the link, both ways, inside the server namespace.</summary>
    public Task CutAsync() => Task.WhenAll(
        IptablesAsync("-A", "INPUT", "-i", ServerDevice, "-j", "DROP"),
        IptablesAsync("-A", "OUTPUT", "-o", ServerDevice, "-j", "DROP"));

    /// <summary>
    /// Drops, both ways, the link's TCP traffic of the servers listening on <paramref name="ports"/>
    /// inside the server namespace: one instance's host cut off while the others on the link go on.
    /// </summary>
    public async Task CutPortsAsync(params int[] ports)
    {
        ArgumentNullException.ThrowIfNull(ports);
        foreach (var port in ports.Select(p => p.ToString(CultureInfo.InvariantCulture)))
        {
            await IptablesAsync("-A", "INPUT", "-i", ServerDevice, "-p", "tcp", "--dport", port, "-j", "DROP");
            await IptablesAsync("-A", "OUTPUT", "-o", ServerDevice, "-p", "tcp", "--sport", port, "-j", "DROP");
        }
    }

    /// <summary>Lets packets through again.</summary>
    public Task RestoreAsync() => IptablesAsync("-F");

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync("ip", ["netns", "del", ServerNamespace]);
        await ProcessRunner.RunAsync("ip", ["netns", "del", ClientNamespace]);
    }

    private static async Task IpAsync(params string[] args) => (await ProcessRunner.RunAsync("ip", args)).EnsureSuccess("ip " + string.Join(' ', args));

    private static async Task ConfigureAsync(string ns, string device, string address)
    {
        await IpAsync("-n", ns, "link", "set", "lo", "up");
        await IpAsync("-n", ns, "addr", "add", address + "/30", "dev", device);
        await IpAsync("-n", ns, "link", "set", device, "up");
    }

    private async Task IptablesAsync(params string[] args) =>
        (await ProcessRunner.RunAsync("iptables", args, new RunAs(NetworkNamespace: ServerNamespace))).EnsureSuccess("iptables " + string.Join(' ', args));
}
