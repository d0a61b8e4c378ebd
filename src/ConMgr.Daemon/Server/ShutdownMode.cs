// ShutdownMode.cs: the three pg_ctl-style ways to stop conmgr, and the signal that asks for each.
namespace ConMgr.Daemon.Server;

/// <summary>How conmgr stops, chosen by the signal cm_ctl sends (as pg_ctl does for postgres).</summary>
public enum ShutdownMode
{
    /// <summary>SIGTERM: refuse new connections, wait until every application connection has ended.</summary>
    Smart,

    /// <summary>SIGINT: tell every application connection it is being terminated (57P01), close it, exit.</summary>
    Fast,

    /// <summary>SIGQUIT: exit at once; peers see their connections drop.</summary>
    Immediate,
}
