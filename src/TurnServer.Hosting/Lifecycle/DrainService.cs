using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// SIGUSR1, as coTURN's drain: Allocate is answered 508 from now on (coTURN answers 403), existing allocations run on
/// (refreshes, relaying), and the process stops with exit code 0 once at most <c>drain-min-allocations</c> remain, or
/// when <c>drain-timeout</c> seconds have passed (if set). Checked once a second; a second SIGUSR1 changes nothing.
/// </summary>
internal sealed partial class DrainService : IDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);
    private readonly TurnEngine _engine;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly int _minAllocations;
    private readonly TimeSpan? _timeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private int _started;

    /// <summary>
    /// Once <see cref="Begin"/> is called, waits until <paramref name="engine"/> has at most <paramref name="minAllocations"/> allocations
    /// (<c>drain-min-allocations</c>) or <paramref name="timeoutSeconds"/> seconds have passed (<c>drain-timeout</c>; 0 or less: no limit),
    /// then stops the host through <paramref name="lifetime"/>.
    /// </summary>
    public DrainService(TurnEngine engine, IHostApplicationLifetime lifetime, int minAllocations, int timeoutSeconds, TimeProvider time, ILogger logger)
    {
        _engine = engine;
        _lifetime = lifetime;
        _minAllocations = minAllocations;
        _timeout = timeoutSeconds > 0 ? TimeSpan.FromSeconds(timeoutSeconds) : null;
        _time = time;
        _logger = logger;
    }

    /// <summary>Starts draining; later calls do nothing.</summary>
    public void Begin()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        _engine.BeginDrain();
        LogDrainStarted(_logger, _engine.Allocations.Count, _minAllocations, _timeout?.TotalSeconds ?? 0);
        _ = WatchAsync(); // stops the host when the drain is done
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private async Task WatchAsync()
    {
        long started = _time.GetTimestamp();
        using var timer = new PeriodicTimer(CheckInterval, _time);
        try
        {
            do
            {
                int remaining = _engine.Allocations.Count;
                if (remaining <= _minAllocations)
                {
                    LogDrained(_logger, remaining);
                    break;
                }

                if (_timeout is { } timeout && _time.GetElapsedTime(started) >= timeout)
                {
                    LogDrainTimedOut(_logger, remaining, timeout.TotalSeconds);
                    break;
                }
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false));
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            return; // the host is stopping anyway
        }

        _lifetime.StopApplication();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "drain started (SIGUSR1): new allocations are refused with 508; {Remaining} allocations remain; stopping at {Min} or fewer, or after {Timeout} s (0: no limit)")]
    private static partial void LogDrainStarted(ILogger logger, int remaining, int min, double timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drain complete: {Remaining} allocations remain; stopping")]
    private static partial void LogDrained(ILogger logger, int remaining);

    [LoggerMessage(Level = LogLevel.Warning, Message = "drain timed out with {Remaining} allocations left after {Timeout} s; stopping")]
    private static partial void LogDrainTimedOut(ILogger logger, int remaining, double timeout);
}
