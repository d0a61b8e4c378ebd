// SignalHandlers.cs: maps POSIX signals to shutdown requests and configuration reloads.
using System.Runtime.InteropServices;

namespace ConMgr.Daemon.Server;

/// <summary>
/// SIGTERM = smart, SIGINT = fast, SIGQUIT = immediate shutdown; SIGHUP = reload conmgr.conf.
/// The default action of each is cancelled: conmgr decides when to exit.
/// </summary>
public sealed class SignalHandlers : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];

    public SignalHandlers(Action<ShutdownMode> shutdown, Action reload)
    {
        ArgumentNullException.ThrowIfNull(shutdown);
        ArgumentNullException.ThrowIfNull(reload);
        Register(PosixSignal.SIGTERM, () => shutdown(ShutdownMode.Smart));
        Register(PosixSignal.SIGINT, () => shutdown(ShutdownMode.Fast));
        Register(PosixSignal.SIGQUIT, () => shutdown(ShutdownMode.Immediate));
        Register(PosixSignal.SIGHUP, reload);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private void Register(PosixSignal signal, Action action) =>
        _registrations.Add(PosixSignalRegistration.Create(signal, context =>
        {
            context.Cancel = true;
            action();
        }));
}
