// ServerPoolTests.cs: the pool's limits, waiting, timeouts and instance drops, on a fake clock, with loopback sockets standing in for server connections.
using System.Net;
using System.Net.Sockets;
using ConMgr.Configuration;
using ConMgr.Daemon.Pooling;
using ConMgr.Daemon.Proxy;
using ConMgr.Hosting.Logging;
using Microsoft.Extensions.Time.Testing;

namespace ConMgr.UnitTests.Pooling;

public sealed class ServerPoolTests : IDisposable
{
    private static readonly PoolKey Key = new(ProxyPort.ReadWrite, 0, "postgres", "app", string.Empty);
    private static readonly PoolKey OtherRole = Key with { User = "other" };
    private static readonly InstanceSettings Instance = new(0, null, "127.0.0.1", 5432, 27545);

    private readonly FakeTimeProvider _time = new();
    private readonly List<Socket> _peers = [];
    private bool _serves = true;

    public void Dispose()
    {
        foreach (var peer in _peers)
        {
            peer.Dispose();
        }
    }

    private ServerPool Pool(int max = 1, TimeSpan? wait = null) => new(
        new PoolSettings { Mode = ServerPoolMode.Transaction, ReadWriteMaxServerConnections = max, WaitTimeout = wait ?? TimeSpan.FromSeconds(30) },
        _time,
        new ServerLog(MessageLevel.Panic, []),
        _ => _serves);

    /// <summary>A connected loopback socket as the server connection; its peer is kept to close it.</summary>
    private PooledServer Server(PoolKey key)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        _peers.Add(listener.Accept());
        return new PooledServer(new BackendConnection(client, new NetworkStream(client, ownsSocket: false), null, null), key, Instance, _time.GetUtcNow());
    }

    [Fact]
    public async Task A_full_port_makes_the_next_client_wait_and_a_released_connection_goes_to_it()
    {
        using var pool = Pool(max: 1);
        var first = await pool.AcquireAsync(Key, CancellationToken.None);
        Assert.True(first is { Server: null });
        var server = Server(Key);

        var waiting = pool.AcquireAsync(Key, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        pool.Release(server, reusable: true);
        Assert.Same(server, (await waiting)?.Server);
        Assert.Equal(1, pool.Count(ProxyPort.ReadWrite, 0));
    }

    [Fact]
    public async Task A_client_waits_no_longer_than_pool_wait_timeout()
    {
        using var pool = Pool(max: 1, wait: TimeSpan.FromSeconds(5));
        _ = await pool.AcquireAsync(Key, CancellationToken.None);
        var waiting = pool.AcquireAsync(Key, CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(waiting.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Null(await waiting);
        Assert.Empty(pool.Snapshot());
    }

    [Fact]
    public async Task An_idle_connection_of_another_role_gives_its_place_when_the_port_is_full()
    {
        using var pool = Pool(max: 1);
        _ = await pool.AcquireAsync(OtherRole, CancellationToken.None);
        var other = Server(OtherRole);
        pool.Release(other, reusable: true);

        var lease = await pool.AcquireAsync(Key, CancellationToken.None);
        Assert.True(lease is { Server: null });
        Assert.True(other.IsClosed);
        Assert.Equal(1, pool.Count(ProxyPort.ReadWrite, 0));
    }

    [Fact]
    public async Task Idle_connections_close_after_server_idle_timeout_and_when_their_instance_stops_serving()
    {
        using var pool = Pool(max: 2);
        _ = await pool.AcquireAsync(Key, CancellationToken.None);
        _ = await pool.AcquireAsync(Key, CancellationToken.None);
        var old = Server(Key);
        var young = Server(Key);
        pool.Release(old, reusable: true);
        _time.Advance(TimeSpan.FromSeconds(300));
        pool.Release(young, reusable: true);
        _time.Advance(TimeSpan.FromSeconds(301));
        Assert.True(old.IsClosed);
        Assert.False(young.IsClosed);
        Assert.Equal(1, pool.Count(ProxyPort.ReadWrite, 0));

        _serves = false;
        Assert.Equal(1, pool.DropUnserved());
        Assert.True(young.IsClosed);
        Assert.Equal(0, pool.Count(ProxyPort.ReadWrite, 0));
    }

    [Fact]
    public async Task A_connection_the_server_closes_while_idle_leaves_the_pool_and_frees_its_place()
    {
        using var pool = Pool(max: 1);
        _ = await pool.AcquireAsync(Key, CancellationToken.None);
        var server = Server(Key);
        pool.Release(server, reusable: true);
        _peers[^1].Close();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (pool.Count(ProxyPort.ReadWrite, 0) != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(server.IsClosed);
        Assert.True((await pool.AcquireAsync(Key, CancellationToken.None)) is { Server: null });
    }

    [Fact]
    public async Task A_taken_connection_is_watched_no_more_and_a_stale_stop_does_not_end_the_watch()
    {
        using var pool = Pool(max: 1);
        _ = await pool.AcquireAsync(Key, CancellationToken.None);
        var server = Server(Key);

        // A stop requested by the last session and never consumed.
        server.Reader.CancelPendingRead();
        pool.Release(server, reusable: true);
        var taken = await pool.AcquireAsync(Key, CancellationToken.None);
        Assert.Same(server, taken?.Server);
        Assert.True(await ServerPool.StopWatchAsync(server));
        Assert.False(server.IsClosed);
    }
}
