// NpgsqlConnectionBreaker.cs: reaches a physical Npgsql connection's socket, so an in-flight command can be failed at once from outside.
using System.Linq.Expressions;
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
/// the connector's one <see cref="Socket"/> field), once per physical connection, when it opens.
/// When a future Npgsql hides them, <see cref="IsSupported"/> is false: the data source logs it
/// once and counts each connection it cannot break (docs/client.md), and the test pinned to the
/// Npgsql version in Directory.Packages.props fails.
/// </summary>
internal static class NpgsqlConnectionBreaker
{
    private static readonly PropertyInfo? ConnectorProperty =
        typeof(NpgsqlConnection).GetProperty("Connector", BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly FieldInfo? SocketField = ConnectorProperty?.PropertyType
        .GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
        .SingleOrDefault(f => f.FieldType == typeof(Socket));

    /// <summary>
    /// The two reads compiled once into one delegate: this runs on every pooled open, where
    /// reflection's GetValue would cost more than the rest of the open's own bookkeeping.
    /// </summary>
    private static readonly Func<NpgsqlConnection, Socket?>? ReadSocket = Compile();

    /// <summary>True when this Npgsql version exposes what <see cref="ServerSocketOf"/> needs.</summary>
    public static bool IsSupported => ReadSocket is not null;

    /// <summary>The socket of the physical connection under <paramref name="connection"/>; null when closed or unsupported.</summary>
    public static Socket? ServerSocketOf(NpgsqlConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return ReadSocket?.Invoke(connection);
    }

    private static Func<NpgsqlConnection, Socket?>? Compile()
    {
        if (ConnectorProperty is null || SocketField is null)
        {
            return null;
        }

        // connection => connection.Connector == null ? null : connection.Connector._socket
        var connection = Expression.Parameter(typeof(NpgsqlConnection), "connection");
        var connector = Expression.Variable(ConnectorProperty.PropertyType, "connector");
        var body = Expression.Block(
            [connector],
            Expression.Assign(connector, Expression.Property(connection, ConnectorProperty)),
            Expression.Condition(
                Expression.Equal(connector, Expression.Constant(null, ConnectorProperty.PropertyType)),
                Expression.Constant(null, typeof(Socket)),
                Expression.Field(connector, SocketField)));
        return Expression.Lambda<Func<NpgsqlConnection, Socket?>>(body, connection).Compile();
    }

    /// <summary>Shuts down the connection's socket; false when the connection has no socket (closed, or unsupported Npgsql).</summary>
    public static bool Break(NpgsqlConnection connection) => ServerSocketOf(connection) is { } socket && Break(socket);

    /// <summary>Shuts <paramref name="socket"/> down both ways; false when it was already closed.</summary>
    public static bool Break(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
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
