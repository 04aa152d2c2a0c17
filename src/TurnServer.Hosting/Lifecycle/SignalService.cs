using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Logging;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// coTURN's signals: SIGHUP reloads the configuration (users, secrets, peer rules, TLS certificate) and reopens the log
/// file (for logrotate); SIGUSR2 reloads the TLS certificate and key; SIGUSR1 starts a drain. SIGTERM and SIGINT stop
/// the host (the generic host handles them). Started last, so it also tells systemd the server is ready. The handlers
/// stay until the host is disposed: once it is stopping they take these signals and do nothing, since a signal without a
/// handler would end the process by its default action, not with the stop's exit code.
/// </summary>
internal sealed partial class SignalService : IHostedService, IDisposable
{
    /// <summary>SIGUSR1 on Linux; PosixSignal has no name for it, the raw number is accepted.</summary>
    public const int SigUsr1 = 10;

    /// <summary>SIGUSR2 on Linux.</summary>
    public const int SigUsr2 = 12;

    private readonly ConfigurationReloader _reloader;
    private readonly DrainService _drain;
    private readonly LogFiles _logFiles;
    private readonly SystemdNotifier _systemd;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger _logger;
    private readonly List<PosixSignalRegistration> _registrations = [];

    /// <summary>
    /// Routes SIGHUP to <paramref name="reloader"/> and <paramref name="logFiles"/>, SIGUSR1 to <paramref name="drain"/>, SIGUSR2 to the
    /// certificate reload; <paramref name="systemd"/> hears READY, RELOADING and STOPPING.
    /// </summary>
    public SignalService(ConfigurationReloader reloader, DrainService drain, LogFiles logFiles, SystemdNotifier systemd, IHostApplicationLifetime lifetime, ILogger logger)
    {
        _reloader = reloader;
        _drain = drain;
        _logFiles = logFiles;
        _systemd = systemd;
        _lifetime = lifetime;
        _logger = logger;
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => Handle(context, "SIGHUP", Reload)));
        _registrations.Add(PosixSignalRegistration.Create((PosixSignal)SigUsr1, context => Handle(context, "SIGUSR1", _drain.Begin)));
        _registrations.Add(PosixSignalRegistration.Create((PosixSignal)SigUsr2, context => Handle(context, "SIGUSR2", _reloader.ReloadCertificate)));
        _lifetime.ApplicationStopping.Register(_systemd.Stopping);
        LogReady(_logger);
        _systemd.Ready();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations)
        {
            registration.Dispose();
        }

        _registrations.Clear();
    }

    /// <summary>SIGHUP: reopens the log files and reloads the configuration, between RELOADING=1 and READY=1 to systemd.</summary>
    internal void Reload()
    {
        _systemd.Reloading();
        try
        {
            _logFiles.Reopen();
            _reloader.Reload();
        }
        finally
        {
            // Even after a failure: without READY=1 systemd holds the unit in "reloading" until its timeout.
            _systemd.Ready();
        }
    }

    // The signal is taken (no default action) and handled off the signal thread; a failure is logged, never fatal.
    private void Handle(PosixSignalContext context, string name, Action action)
    {
        context.Cancel = true;
        if (_lifetime.ApplicationStopping.IsCancellationRequested)
        {
            LogSignalIgnored(_logger, name);
            return;
        }

        LogSignal(_logger, name);
        ThreadPool.QueueUserWorkItem(_ =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                LogSignalFailed(_logger, e, name);
            }
        });
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ready: every listener is bound")]
    private static partial void LogReady(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Signal} received")]
    private static partial void LogSignal(ILogger logger, string signal);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Signal} received while stopping: ignored")]
    private static partial void LogSignalIgnored(ILogger logger, string signal);

    [LoggerMessage(Level = LogLevel.Error, Message = "handling {Signal} failed")]
    private static partial void LogSignalFailed(ILogger logger, Exception exception, string signal);
}
