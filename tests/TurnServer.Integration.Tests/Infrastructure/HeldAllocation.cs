using TurnServer.Core.Allocations;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// Holds up the handling of the first Allocate that succeeds, inside the server's request handling, until the test
/// releases it: the stand-in for a client whose frames take long to handle.
/// </summary>
internal sealed class HeldAllocation : IAllocationObserver
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _calls;

    /// <summary>Completes once the first allocation's handling is being held.</summary>
    public Task Entered => _entered.Task;

    public void OnCreated(Allocation allocation)
    {
        if (Interlocked.Increment(ref _calls) == 1)
        {
            _entered.TrySetResult();
            _released.Task.Wait(TimeSpan.FromSeconds(60)); // bounded: a test that fails before releasing must not hang the server
        }
    }

    public void OnEnded(Allocation allocation, AllocationEndReason reason)
    {
    }

    /// <summary>Lets the held handling go on.</summary>
    public void Release() => _released.TrySetResult();
}
