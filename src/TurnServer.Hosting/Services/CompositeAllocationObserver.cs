using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Hosting.Services;

/// <summary>Tells every registered <see cref="IAllocationObserver"/> (session log, metrics, tests) in turn.</summary>
internal sealed class CompositeAllocationObserver : IAllocationObserver
{
    private readonly IAllocationObserver[] _observers;

    /// <summary>Tells <paramref name="observers"/>, in the order given.</summary>
    public CompositeAllocationObserver(IEnumerable<IAllocationObserver> observers) => _observers = [.. observers];

    /// <inheritdoc />
    public void OnCreated(Allocation allocation)
    {
        foreach (IAllocationObserver observer in _observers)
        {
            observer.OnCreated(allocation);
        }
    }

    /// <inheritdoc />
    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
        foreach (IAllocationObserver observer in _observers)
        {
            observer.OnEnded(allocation, reason);
        }
    }

    /// <inheritdoc />
    public void OnRefreshed(Allocation allocation, uint lifetime)
    {
        foreach (IAllocationObserver observer in _observers)
        {
            observer.OnRefreshed(allocation, lifetime);
        }
    }

    /// <inheritdoc />
    public void OnMoved(Allocation allocation, in FiveTuple from)
    {
        foreach (IAllocationObserver observer in _observers)
        {
            observer.OnMoved(allocation, from);
        }
    }

    /// <inheritdoc />
    public void OnRelayDeleted(Allocation allocation, TransportAddress relayed, AllocationEndReason reason)
    {
        foreach (IAllocationObserver observer in _observers)
        {
            observer.OnRelayDeleted(allocation, relayed, reason);
        }
    }
}
