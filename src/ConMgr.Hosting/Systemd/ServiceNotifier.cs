// ServiceNotifier.cs: tells systemd (Type=notify) when the service is ready, reloading or stopping, and what it is doing.
using Microsoft.Extensions.Hosting.Systemd;

namespace ConMgr.Hosting.Systemd;

/// <summary>
/// sd_notify(3) through Microsoft.Extensions.Hosting's <see cref="SystemdNotifier"/>, which sends
/// datagrams to <c>$NOTIFY_SOCKET</c>; without that variable (not started by systemd) every call
/// does nothing. Only the notifier is used, not the generic host's lifetime: pg_ctl's three stop
/// modes (SIGTERM, SIGINT, SIGQUIT) keep their meaning. A failed send is ignored: telling systemd
/// must never stop the service.
/// </summary>
public sealed class ServiceNotifier
{
    private readonly SystemdNotifier _notifier = new();

    public bool IsEnabled => _notifier.IsEnabled;

    /// <summary>READY=1 with a STATUS line.</summary>
    public void Ready(string status) => Send($"READY=1\nSTATUS={status}");

    /// <summary>RELOADING=1 (SIGHUP received); <see cref="Ready"/> follows once the configuration is read.</summary>
    public void Reloading() => Send("RELOADING=1");

    /// <summary>STOPPING=1 with the shutdown mode.</summary>
    public void Stopping(string status) => Send($"STOPPING=1\nSTATUS={status}");

    /// <summary>A STATUS line alone (systemctl status shows it).</summary>
    public void Status(string status) => Send($"STATUS={status}");

    private void Send(string message)
    {
        if (!_notifier.IsEnabled)
        {
            return;
        }

        try
        {
            _notifier.Notify(new ServiceState(message));
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
        {
            // systemd went away or the socket is gone: nothing to tell, nothing to stop for.
        }
    }
}
