// ControlClient.cs: cm_ctl's side of the control socket.
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ConMgr.Hosting.Control;

/// <summary>
/// Sends one command line to a running conmgr's control socket and reads the whole reply
/// (the server closes after answering). See docs/protocol.md, "Control socket".
/// </summary>
public static class ControlClient
{
    /// <summary>Largest reply accepted; a bigger one is an error, not a hang or an OOM.</summary>
    public const int MaxReplyBytes = 16 * 1024 * 1024;

    public static async Task<string> SendAsync(ConMgrDirectory directory, string command, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(directory);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(directory.ControlSocket), cts.Token);
        await socket.SendAsync(Encoding.UTF8.GetBytes(command + "\n"), SocketFlags.None, cts.Token);
        using var reply = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                break;
            }

            if (reply.Length + read > MaxReplyBytes)
            {
                throw new InvalidDataException($"control reply exceeds {MaxReplyBytes} bytes");
            }

            reply.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(reply.GetBuffer(), 0, (int)reply.Length);
    }

    public static async Task<StatusReport> GetStatusAsync(ConMgrDirectory directory, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var json = await SendAsync(directory, "status", timeout, cancellationToken);
        return JsonSerializer.Deserialize(json, ControlJsonContext.Default.StatusReport)
            ?? throw new InvalidDataException("empty status reply");
    }
}
