// TlsTunnel.cs: carries a heartbeat link's plaintext between a TLS stream and a local socket pair, on two threads of its own, so the heartbeat code is the same over TLS and plaintext and no beat waits for the thread pool.
using System.Net.Security;
using System.Net.Sockets;
using ConMgr.Hosting.Posix;

namespace ConMgr.Hosting.Tls;

/// <summary>
/// The heartbeat reactor works on descriptors, with non-blocking sends whose failure means "peer
/// not reading". TLS is put underneath it instead of into it: after the handshake, two pumps relay
/// between the TLS stream and one end of a Unix socket pair, and the reactor gets the other end.
/// Its semantics do not change: a close on either side closes the other (a dead TLS peer reads as
/// a closed link, the reactor closing a link closes the TLS connection), silence stays silence (a
/// cut network still ends the link by heartbeat_timeout), and a TLS peer that stops reading fills
/// the pair's buffer, so the reactor's send fails as it would on TCP.
/// <para>
/// Each pump is a thread of its own doing blocking reads and writes, at the heartbeat's raised
/// priority where allowed (<see cref="ThreadScheduling"/>): beats are decrypted and encrypted the
/// moment they arrive, never queued behind the thread pool, whatever else the process is doing.
/// A beat sitting undecrypted in the TCP socket would be invisible to the reactor's drain before a
/// verdict. The price is two threads per TLS link (small stacks; a 4 KiB buffer each): conmgr
/// has one link per instance, a watchdog one per conmgr (docs/tls.md).
/// </para>
/// </summary>
public static class TlsTunnel
{
    /// <summary>Frames are at most 1 KiB; a few fit in one read.</summary>
    private const int BufferSize = 4096;

    /// <summary>The pumps' stacks: SslStream and OpenSSL need a few tens of KiB at most.</summary>
    private const int StackSize = 256 * 1024;

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
        new Tunnel(tls, network, local, ended).Start();
        return theirs;
    }

    /// <summary>As <see cref="Open"/>, the heartbeat end wrapped in a <see cref="Socket"/>.</summary>
    public static Socket OpenSocket(SslStream tls, Socket network, Action<string>? ended = null) =>
        new(new SafeSocketHandle(Open(tls, network, ended), ownsHandle: true));

    private sealed class Tunnel(SslStream tls, Socket network, Socket local, Action<string>? ended)
    {
        private int _pumps = 2;
        private string? _reason;

        public void Start()
        {
            Spawn("tls tunnel in", () => Pump(b => tls.Read(b), bytes => local.Send(bytes), "the TLS peer"));
            Spawn("tls tunnel out", () => Pump(b => local.Receive(b), bytes => tls.Write(bytes), "the local end"));
        }

        private void Spawn(string name, Func<string> pump)
        {
            var thread = new Thread(
                () =>
                {
                    _ = ThreadScheduling.RaiseCurrentThread();
                    Finish(pump());
                },
                StackSize)
            { IsBackground = true, Name = name };
            thread.Start();
        }

        private static string Pump(Func<byte[], int> read, Action<ReadOnlySpan<byte>> write, string source)
        {
            var buffer = new byte[BufferSize];
            try
            {
                while (true)
                {
                    var count = read(buffer);
                    if (count == 0)
                    {
                        return $"{source} closed the connection";
                    }

                    write(buffer.AsSpan(0, count));
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return $"connection error: {ex.Message}";
            }
        }

        /// <summary>The first pump to end ends both, so each side sees what it would see on plain TCP; the last one out reports.</summary>
        private void Finish(string reason)
        {
            Interlocked.CompareExchange(ref _reason, reason, null);
            Shutdown(local);
            Shutdown(network);
            if (Interlocked.Decrement(ref _pumps) == 0)
            {
                local.Dispose();
                tls.Dispose();
                network.Dispose();
                ended?.Invoke(_reason!);
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
}
