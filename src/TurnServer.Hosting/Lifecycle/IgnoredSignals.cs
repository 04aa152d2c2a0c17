using System.Runtime.InteropServices;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// Takes SIGHUP, SIGUSR1 and SIGUSR2 and does nothing with them, for as long as it is held. Each ends a process by
/// default; the host acts on them from start-up until it is disposed, and this covers the time around that (services
/// starting, logs flushed at exit), so that logrotate's SIGHUP never kills a server that is starting or stopping.
/// Handlers of one signal all run: while the host's are registered, they act as before.
/// </summary>
public sealed class IgnoredSignals : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations =
    [
        PosixSignalRegistration.Create(PosixSignal.SIGHUP, Ignore),
        PosixSignalRegistration.Create((PosixSignal)SignalService.SigUsr1, Ignore),
        PosixSignalRegistration.Create((PosixSignal)SignalService.SigUsr2, Ignore),
    ];

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private static void Ignore(PosixSignalContext context) => context.Cancel = true;
}
