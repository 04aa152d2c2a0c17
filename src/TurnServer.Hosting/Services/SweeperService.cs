using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;

namespace TurnServer.Hosting.Services;

/// <summary>
/// Once a second, frees what has expired (allocations, permissions, channels, reservations, cached responses).
/// On stop, deletes every allocation so sockets close and ports return before the process exits.
/// </summary>
internal sealed partial class SweeperService : BackgroundService
{
    private readonly TurnEngine _engine;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>
    /// Sweeps <paramref name="engine"/> once a second of <paramref name="time"/>; sweep failures are logged to
    /// <paramref name="logger"/>.
    /// </summary>
    public SweeperService(TurnEngine engine, TimeProvider time, ILogger<SweeperService> logger)
    {
        _engine = engine;
        _time = time;
        _logger = logger;
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _engine.Shutdown();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    _engine.Sweep();
                }
                catch (Exception e)
                {
                    // A bug (an observer that throws, say) must cost one sweep, never expiry for the rest of the run.
                    LogSweepFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Sweeping expired state failed; the next sweep runs in a second")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
