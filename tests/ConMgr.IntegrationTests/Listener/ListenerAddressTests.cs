// ListenerAddressTests.cs: each listener has its own listen addresses: exposing a proxy port exposes neither /status nor the resolve port.
using System.Net;
using System.Net.Sockets;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Listener;

public sealed class ListenerAddressTests
{
    [Fact]
    public async Task A_proxy_port_on_another_address_leaves_the_resolve_and_http_ports_where_listen_addresses_puts_them()
    {
        var rw = FreePort.Next();
        var http = FreePort.Next();
        await using var node = await ConMgrNode.CreateAsync(
            $"listen_addresses = '127.0.0.1'\nread_write_port = {rw}\nread_write_listen_addresses = '127.0.0.2'\nhttp_port = {http}\nhttp_listen_addresses = '127.0.0.3'\n"
            + "backend_hostaddr0 = '127.0.0.1'\nbackend_port0 = 5999\nlog_min_messages = log\n");
        await node.StartAsync();

        Assert.True(await AcceptsAsync("127.0.0.1", node.Port));
        Assert.False(await AcceptsAsync("127.0.0.2", node.Port));
        Assert.True(await AcceptsAsync("127.0.0.2", rw));
        Assert.False(await AcceptsAsync("127.0.0.1", rw));
        Assert.True(await AcceptsAsync("127.0.0.3", http));
        Assert.False(await AcceptsAsync("127.0.0.1", http));
        Assert.False(await AcceptsAsync("127.0.0.2", http));
    }

    private static async Task<bool> AcceptsAsync(string address, int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Parse(address), port).WaitAsync(TimeSpan.FromSeconds(10));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
