using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// Where a part of the server that cannot go on reports it (a UDP worker whose epoll set failed would otherwise leave
/// its share of clients unanswered while the rest of the server looks healthy): the failure is logged as critical, the
/// host stops as on SIGTERM, and the process exits with <see cref="ExitCodes.Software"/> so that systemd's
/// <c>Restart=on-failure</c> (or the container runtime) starts it again.
/// </summary>
public sealed partial class ServerFailure
{
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger _logger;
    private int _exitCode;

    /// <summary>Stops <paramref name="lifetime"/>'s host on a failure, logging to <paramref name="logger"/>.</summary>
    public ServerFailure(IHostApplicationLifetime lifetime, ILogger logger)
    {
        _lifetime = lifetime ?? throw new ArgumentNullException(nameof(lifetime));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The process's exit code once the host has stopped: 0, or <see cref="ExitCodes.Software"/> after a <see cref="Report"/>.</summary>
    public int ExitCode => Volatile.Read(ref _exitCode);

    /// <summary>Reports that <paramref name="what"/> failed beyond repair and stops the server. Safe from any thread.</summary>
    public void Report(string what)
    {
        LogFailed(_logger, what);
        Volatile.Write(ref _exitCode, ExitCodes.Software);
        _lifetime.StopApplication();
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{What}: the server cannot go on and stops (exit code 70, for a restart)")]
    private static partial void LogFailed(ILogger logger, string what);
}
