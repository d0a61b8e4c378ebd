// NpgsqlConnectionBreaker.cs: breaks an Npgsql connection from outside, so its in-flight command fails at once.
using System.Net.Sockets;
using System.Reflection;
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// Npgsql has no public "abort this connection" call. Cancellation is not one: a cancelled
/// command first opens a new connection to the server to send a CancelRequest (which, across a
/// cut link, waits out the connect timeout), and what the application then sees is a query
/// cancelled (57014) or an <see cref="OperationCanceledException"/>, not a connection failure.
/// So ConMgr shuts the connection's socket down (shutdown(2), both directions): the blocked
/// read returns end-of-stream at once, and Npgsql itself breaks the connector and throws
/// <see cref="NpgsqlException"/> with <c>IsTransient = true</c>, the exception retry policies
/// recognise. The socket is reached through Npgsql's internals (the connection's connector and
/// the connector's one <see cref="Socket"/> field); a test pins that this works with the Npgsql
/// version in Directory.Packages.props. See docs/client.md.
/// </summary>
public static class NpgsqlConnectionBreaker
{
    private static readonly PropertyInfo? ConnectorProperty =
        typeof(NpgsqlConnection).GetProperty("Connector", BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly FieldInfo? SocketField = ConnectorProperty?.PropertyType
        .GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
        .SingleOrDefault(f => f.FieldType == typeof(Socket));

    /// <summary>True when this Npgsql version exposes what <see cref="Break"/> needs.</summary>
    public static bool IsSupported => SocketField is not null;

    /// <summary>Shuts down the connection's socket; false when the connection has no socket (closed, or unsupported Npgsql).</summary>
    public static bool Break(NpgsqlConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (ConnectorProperty?.GetValue(connection) is not { } connector || SocketField?.GetValue(connector) is not Socket socket)
        {
            return false;
        }

        try
        {
            socket.Shutdown(SocketShutdown.Both);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }
}
