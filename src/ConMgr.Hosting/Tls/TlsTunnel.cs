// TlsTunnel.cs: carries a heartbeat link's plaintext between a TLS stream and a local socket pair, so the heartbeat code is the same over TLS and plaintext.
using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using ConMgr.Hosting.Posix;

namespace ConMgr.Hosting.Tls;

/// <summary>
/// The heartbeat code works on descriptors (the watchdog's epoll reactor) and plain sockets
/// (conmgr's channel), with non-blocking sends whose failure means "peer not reading". TLS is put
/// underneath it instead of into it: after the handshake, two pumps relay between the TLS stream
/// and one end of a Unix socket pair, and the heartbeat code gets the other end. Its semantics do
/// not change: a close on either side closes the other (a dead TLS peer reads as a closed link,
/// the reactor closing a link closes the TLS connection), silence stays silence (a cut network
/// still ends the link by heartbeat_timeout), and a TLS peer that stops reading fills the pair's
/// buffer, so the heartbeat side's send fails as it would on TCP.
/// Idle tunnels hold no buffer: each pump waits with a zero-byte read.
/// </summary>
public static class TlsTunnel
{
    /// <summary>Frames are at most 1 KiB; a few fit in one read.</summary>
    private const int BufferSize = 4096;

    /// <summary>
    /// Starts relaying and returns the descriptor the heartbeat code uses (the caller owns it).
    /// <paramref name="ended"/> is called once, with the reason, when the tunnel closed.
    /// </summary>
    public static int Open(SslStream tls, Socket network, Action<string>? ended = null)
    {
        ArgumentNullException.ThrowIfNull(tls);
        ArgumentNullException.ThrowIfNull(network);
        var (ours, theirs) = Epoll.SocketPair();
        var local = new Socket(new SafeSocketHandle(ours, ownsHandle: true));
        _ = RunAsync(tls, network, local, ended);
        return theirs;
    }

    /// <summary>As <see cref="Open"/>, the heartbeat end wrapped in a <see cref="Socket"/>.</summary>
    public static Socket OpenSocket(SslStream tls, Socket network, Action<string>? ended = null) =>
        new(new SafeSocketHandle(Open(tls, network, ended), ownsHandle: true));

    private static async Task RunAsync(SslStream tls, Socket network, Socket local, Action<string>? ended)
    {
        var fromNetwork = PumpAsync(m => tls.ReadAsync(m), m => local.SendAsync(m, SocketFlags.None), "the TLS peer");
        var toNetwork = PumpAsync(m => local.ReceiveAsync(m, SocketFlags.None), async m => { await tls.WriteAsync(m); return m.Length; }, "the local end");
        var reason = await await Task.WhenAny(fromNetwork, toNetwork);

        // Either side ended: end both, so each sees what it would see on plain TCP.
        Shutdown(local);
        Shutdown(network);
        local.Dispose();
        tls.Dispose();
        network.Dispose();
        await Task.WhenAll(fromNetwork, toNetwork);
        ended?.Invoke(reason);
    }

    private static async Task<string> PumpAsync(Func<Memory<byte>, ValueTask<int>> read, Func<ReadOnlyMemory<byte>, ValueTask<int>> write, string source)
    {
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                _ = await read(Memory<byte>.Empty);
                buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                var count = await read(buffer);
                if (count == 0)
                {
                    return $"{source} closed the connection";
                }

                var memory = buffer.AsMemory(0, count);
                while (!memory.IsEmpty)
                {
                    memory = memory[await write(memory)..];
                }

                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            return $"connection error: {ex.Message}";
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static void Shutdown(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }
}
