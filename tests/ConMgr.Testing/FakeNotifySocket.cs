// FakeNotifySocket.cs: what systemd is to a Type=notify service: a Unix datagram socket at $NOTIFY_SOCKET that collects sd_notify messages.
using System.Net.Sockets;
using System.Text;

namespace ConMgr.Testing;

/// <summary>Binds a datagram socket the service (run as postgres) can write to, and keeps every message it sends.</summary>
public sealed class FakeNotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly List<(DateTimeOffset At, string Message)> _received = [];

    public FakeNotifySocket(string directory)
    {
        Path = System.IO.Path.Combine(directory, "notify.sock");
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
        File.SetUnixFileMode(Path, (UnixFileMode)0b111_111_111);
    }

    /// <summary>The value for NOTIFY_SOCKET.</summary>
    public string Path { get; }

    /// <summary>Every message so far (each a newline-separated list of VAR=value), with when it was read.</summary>
    public IReadOnlyList<(DateTimeOffset At, string Message)> Received
    {
        get
        {
            Drain();
            return [.. _received];
        }
    }

    /// <summary>Polls until a message containing <paramref name="line"/> has come; returns when it was read.</summary>
    public async Task<DateTimeOffset> WaitForAsync(string line, TimeSpan timeout)
    {
        await Poll.UntilAsync(() => Received.Any(r => Lines(r.Message).Contains(line)), timeout, $"\"{line}\" on NOTIFY_SOCKET (got: {string.Join(" | ", Received.Select(r => r.Message.Replace('\n', ' ')))})");
        return Received.First(r => Lines(r.Message).Contains(line)).At;
    }

    public static string[] Lines(string message) => message.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public void Dispose()
    {
        _socket.Dispose();
        File.Delete(Path);
    }

    private void Drain()
    {
        var buffer = new byte[4096];
        while (_socket.Available > 0)
        {
            var read = _socket.Receive(buffer);
            _received.Add((DateTimeOffset.UtcNow, Encoding.UTF8.GetString(buffer, 0, read)));
        }
    }
}
