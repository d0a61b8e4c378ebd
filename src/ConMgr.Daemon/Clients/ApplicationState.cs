// ApplicationState.cs: where an application connection to conmgr's port is in its life.
namespace ConMgr.Daemon.Clients;

/// <summary>One explicit state per application connection; each value says where it lives.</summary>
public enum ApplicationState
{
    /// <summary>Accepted; conmgr is reading the startup packet (bounded by the startup timeout).</summary>
    AwaitingStartup,

    /// <summary>
    /// Resolved: the client was told host:port and connected there; conmgr keeps the socket and
    /// reports on it if that instance is lost or stops matching the client's target.
    /// </summary>
    Monitoring,

    /// <summary>A proxy port's client: conmgr is connecting to the chosen instance (bounded by the port's connect timeout).</summary>
    Connecting,

    /// <summary>A proxy port's client: its session is relayed to the instance; conmgr ends it if the instance no longer serves the port.</summary>
    Proxying,

    /// <summary>conmgr is sending a final ErrorResponse before closing.</summary>
    Rejecting,

    /// <summary>The socket is closed and the connection left the registry.</summary>
    Closed,
}
