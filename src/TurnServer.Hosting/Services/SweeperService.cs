using Microsoft.Extensions.Hosting;
using TurnServer.Core;

namespace TurnServer.Hosting.Services;

/// <summary>
/// Once a second, frees what has expired (allocations, permissions, channels, reservations, cached responses).
/// On stop, deletes every allocation so sockets close and ports return before the process exits.
/// </summary>
internal sealed class SweeperService : BackgroundService
{
    private readonly TurnEngine _engine;
    private readonly TimeProvider _time;

    public SweeperService(TurnEngine engine, TimeProvider time)
    {
        _engine = engine;
        _time = time;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        _engine.Shutdown();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                _engine.Sweep();
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
