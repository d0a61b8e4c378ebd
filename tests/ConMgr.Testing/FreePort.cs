// FreePort.cs: free loopback TCP ports for test servers.
using System.Net;
using System.Net.Sockets;

namespace ConMgr.Testing;

public static class FreePort
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Handed = [];

    /// <summary>
    /// A port the kernel just reported free, never the same one twice in this process (so two
    /// fixtures created at once cannot collide with each other).
    /// </summary>
    public static int Next()
    {
        lock (Gate)
        {
            while (true)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
