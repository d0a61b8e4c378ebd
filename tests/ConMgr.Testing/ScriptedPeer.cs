// ScriptedPeer.cs: a loopback listener that plays a script on each connection: a fake conmgr or postmaster for edge cases.
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ConMgr.Testing;

/// <summary>
/// Accepts connections one after another; for each, reads the startup message, runs the
/// script with the connection's number (0, 1, ...), then closes it. A script that should keep
/// the socket open (as a real conmgr does) ends with <see cref="WaitForCloseAsync"/>.
/// </summary>
public sealed class ScriptedPeer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Task _loop;

    private ScriptedPeer(Socket listener, Func<Socket, int, Task> script)
    {
        _listener = listener;
        _loop = Task.Run(async () =>
        {
            for (var number = 0; ; number++)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptAsync();
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return;
                }

                using (client)
                {
                    var buffer = new byte[10000];
                    await client.ReceiveAsync(buffer);
                    await script(client, number);
                }
            }
        });
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public string Endpoint => $"127.0.0.1:{Port}";

    public static ScriptedPeer Start(Func<Socket, Task> script) => Start((socket, _) => script(socket));

    public static ScriptedPeer Start(Func<Socket, int, Task> script)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        return new ScriptedPeer(listener, script);
    }

    /// <summary>Holds the socket until the client closes it (or resets it).</summary>
    public static async Task WaitForCloseAsync(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            while (await socket.ReceiveAsync(new byte[64]) > 0)
            {
            }
        }
        catch (SocketException)
        {
        }
    }

    public static byte[] ParameterStatus(string name, string value)
    {
        var body = Encoding.UTF8.GetBytes($"{name}\0{value}\0");
        var length = body.Length + 4;
        return [(byte)'S', (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length, .. body];
    }

    /// <summary>A conmgr's whole resolve answer (docs/protocol.md) naming <paramref name="host"/>:<paramref name="port"/>; <paramref name="candidates"/> null leaves conmgr_candidates out.</summary>
    public static byte[] ResolveAnswer(string host, int port, int number, string role, int? candidates) =>
    [
        .. ParameterStatus("conmgr_protocol", "1.0"),
        .. ParameterStatus("conmgr_instance_host", host),
        .. ParameterStatus("conmgr_instance_port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        .. ParameterStatus("conmgr_instance_number", number.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        .. ParameterStatus("conmgr_instance_role", role),
        .. candidates is { } count ? ParameterStatus("conmgr_candidates", count.ToString(System.Globalization.CultureInfo.InvariantCulture)) : [],
        (byte)'Z', 0, 0, 0, 5, (byte)'I',
    ];

    /// <summary>A FATAL ErrorResponse with <paramref name="sqlState"/>, as conmgr writes its loss report.</summary>
    public static byte[] FatalError(string sqlState, string message)
    {
        var body = Encoding.UTF8.GetBytes($"SFATAL\0VFATAL\0C{sqlState}\0M{message}\0\0");
        var length = body.Length + 4;
        return [(byte)'E', (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length, .. body];
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _loop.WaitAsync(TimeSpan.FromSeconds(35)).ContinueWith(_ => { }, TaskScheduler.Default);
    }
}
