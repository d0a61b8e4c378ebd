// ControlServer.cs: conmgr's end of the control socket that cm_ctl status talks to.
using System.Net.Sockets;
using System.Text;
using ConMgr.Hosting.Control;
using ConMgr.Hosting.Logging;

namespace ConMgr.Daemon.Control;

/// <summary>
/// Listens on the Unix socket in the conmgr directory (file permissions of the directory
/// protect it). One command line per connection, one reply, then close. See docs/protocol.md.
/// </summary>
public sealed class ControlServer : IDisposable
{
    /// <summary>Longest command line accepted.</summary>
    public const int MaxCommandBytes = 256;

    /// <summary>A control client must send its command within this time.</summary>
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly Func<string, string> _dispatch;
    private readonly ServerLog _log;

    public ControlServer(ConMgrDirectory directory, Func<string, string> dispatch, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(directory);
        _dispatch = dispatch;
        _log = log;
        if (Encoding.UTF8.GetByteCount(directory.ControlSocket) > ConMgrDirectory.MaxSocketPathBytes)
        {
            throw new InvalidOperationException($"control socket path \"{directory.ControlSocket}\" is longer than {ConMgrDirectory.MaxSocketPathBytes} bytes: use a shorter directory");
        }

        // We hold the directory lock, so a socket file left here belongs to a dead conmgr.
        File.Delete(directory.ControlSocket);
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(directory.ControlSocket));
        File.SetUnixFileMode(directory.ControlSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _socket.Listen(16);
    }

    public void Start() => _ = Task.Run(AcceptLoopAsync);

    public void Dispose() => _socket.Dispose();

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync();
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    /// <summary>
    /// Sends the reply, ends our side, then reads and discards what the client still sends until
    /// it closes (bounded by the command timeout): closing with unread bytes would make the kernel
    /// reset the connection, and a reset can destroy the reply before the client reads it.
    /// </summary>
    private static async Task ReplyAsync(Socket client, string reply, byte[] scratch, CancellationToken cancellationToken)
    {
        await client.SendAsync(Encoding.UTF8.GetBytes(reply), SocketFlags.None, cancellationToken);
        client.Shutdown(SocketShutdown.Send);
        while (await client.ReceiveAsync(scratch, SocketFlags.None, cancellationToken) > 0)
        {
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                using var cts = new CancellationTokenSource(CommandTimeout);
                var buffer = new byte[MaxCommandBytes];
                var filled = 0;
                int newline;
                while ((newline = Array.IndexOf(buffer, (byte)'\n', 0, filled)) < 0)
                {
                    if (filled == buffer.Length)
                    {
                        await ReplyAsync(client, "error: command too long\n", buffer, cts.Token);
                        return;
                    }

                    var read = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cts.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    filled += read;
                }

                await ReplyAsync(client, _dispatch(Encoding.UTF8.GetString(buffer, 0, newline).Trim()), buffer, cts.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                _log.Debug($"control connection ended early: {ex.Message}");
            }
        }
    }
}
