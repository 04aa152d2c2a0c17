using TurnServer.Core.Allocations;

namespace TurnServer.Hosting;

/// <summary>Tells several observers (the session log, the metrics) about each allocation, in order.</summary>
internal sealed class AllocationObservers(IReadOnlyList<IAllocationObserver> observers) : IAllocationObserver
{
    public void OnCreated(Allocation allocation)
    {
        foreach (IAllocationObserver observer in observers)
        {
            observer.OnCreated(allocation);
        }
    }

    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
        foreach (IAllocationObserver observer in observers)
        {
            observer.OnEnded(allocation, reason);
        }
    }
}
