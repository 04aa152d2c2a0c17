using System.Threading.Channels;
using TurnServer.Core.Allocations;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>Lets a test await allocation ends and refreshes instead of polling the table.</summary>
internal sealed class AllocationEvents : IAllocationObserver
{
    private readonly Channel<(Allocation Allocation, AllocationEndReason Reason)> _ended =
        Channel.CreateUnbounded<(Allocation, AllocationEndReason)>();

    /// <summary>Each successful Refresh, with when it came (<see cref="System.Diagnostics.Stopwatch"/> ticks).</summary>
    private readonly Channel<(Allocation Allocation, long At)> _refreshed = Channel.CreateUnbounded<(Allocation, long)>();

    private readonly System.Collections.Concurrent.ConcurrentQueue<Allocation> _created = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<(Allocation, FiveTuple)> _moved = new();

    /// <summary>Every allocation made so far, in order.</summary>
    public IReadOnlyCollection<Allocation> Created => _created;

    public void OnCreated(Allocation allocation) => _created.Enqueue(allocation);

    public void OnEnded(Allocation allocation, AllocationEndReason reason) => _ended.Writer.TryWrite((allocation, reason));

    public void OnRefreshed(Allocation allocation, uint lifetime) => _refreshed.Writer.TryWrite((allocation, System.Diagnostics.Stopwatch.GetTimestamp()));

    /// <summary>Every mobility move so far (RFC 8016): the allocation and the 5-tuple it left.</summary>
    public IReadOnlyCollection<(Allocation Allocation, FiveTuple From)> Moved => _moved;

    public void OnMoved(Allocation allocation, in FiveTuple from) => _moved.Enqueue((allocation, from));

    /// <summary>
    /// Completes once each of <paramref name="allocations"/> has been refreshed at or after <paramref name="after"/>
    /// (<see cref="System.Diagnostics.Stopwatch"/> ticks); throws if that has not happened within <paramref name="timeout"/>.
    /// </summary>
    public async Task RefreshedAfterAsync(IEnumerable<Allocation> allocations, long after, TimeSpan timeout)
    {
        var waiting = new HashSet<Allocation>(allocations);
        using var cts = new CancellationTokenSource(timeout);
        while (waiting.Count > 0)
        {
            (Allocation allocation, long at) = await _refreshed.Reader.ReadAsync(cts.Token);
            if (at >= after)
            {
                waiting.Remove(allocation);
            }
        }
    }

    /// <summary>The next allocation end, in order, within <paramref name="timeout"/>.</summary>
    public async Task<(Allocation Allocation, AllocationEndReason Reason)> NextEndAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await _ended.Reader.ReadAsync(cts.Token);
    }
}
