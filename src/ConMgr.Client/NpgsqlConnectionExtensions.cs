// NpgsqlConnectionExtensions.cs: the seed's PQcmSocket, PQhost and PQport for an NpgsqlConnection.
using System.Net.Sockets;
using Npgsql;

namespace ConMgr.Client;

public static class NpgsqlConnectionExtensions
{
    /// <summary>The socket to conmgr (the seed's PQcmSocket); null when the connection did not go through conmgr.</summary>
    public static Socket? GetConMgrSocket(this NpgsqlConnection connection) => ConMgrDataSource.GetChannel(connection)?.Socket;

    /// <summary>The conmgr channel (socket, loss token and reason); null when the connection did not go through conmgr.</summary>
    public static ConMgrChannel? GetConMgrChannel(this NpgsqlConnection connection) => ConMgrDataSource.GetChannel(connection);
}
