using System.Diagnostics;
using TurnServer.Core.Auth;
using TurnServer.Core.Peers;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>What operators change on a running engine: drain, reloaded credentials, peer rules and quotas.</summary>
public class OperationsTests
{
    /// <summary>
    /// Regression: totals were the ended sum read first, then the live set; an allocation deleted in between was in
    /// neither (a CI run saw 450 of 500 relayed packets as uclient's TCP connections closed). Deleting and reading
    /// now share a lock: every reading during a wave of deletions counts each allocation exactly once.
    /// </summary>
    [Fact]
    public async Task Traffic_totals_count_every_allocation_once_while_allocations_end()
    {
        const int Count = 200;
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, UserQuota = 0 });
        for (int i = 0; i < Count; i++)
        {
            Assert.True(harness.NewClient("198.51.100.7", 41000 + i).Allocate().IsSuccess);
        }

        Allocations.Allocation[] allocations = [.. harness.Engine.Allocations.All];
        foreach (Allocations.Allocation allocation in allocations)
        {
            allocation.PeerPacketsSent = 1;
        }

        // Each deletion waits for a reading of its own to begin, so it lands while one runs; the reader stays at most Lead
        // readings ahead of the deletions, so its lock cannot starve the deleter. Every wait ends by one deadline.
        const int Lead = 4;
        var elapsed = Stopwatch.StartNew();
        void WaitFor(Func<bool> condition, string what)
        {
            // Spinning, not sleeping: a thread that slept would wake after the other's reading or deletion was over.
            while (!condition())
            {
                if (elapsed.Elapsed > TimeSpan.FromSeconds(10))
                {
                    throw new TimeoutException(what + " within 10 s");
                }

                Thread.SpinWait(10);
            }
        }

        int readings = 0;
        int deleted = 0;
        Task deleting = Task.Run(() =>
        {
            foreach (Allocations.Allocation allocation in allocations)
            {
                int done = deleted;
                WaitFor(() => Volatile.Read(ref readings) > done, "no reading began");
                harness.Engine.Allocations.Remove(allocation, Allocations.AllocationEndReason.Deleted);
                Interlocked.Increment(ref deleted);
            }
        });

        while (Volatile.Read(ref deleted) < Count && !deleting.IsCompleted)
        {
            WaitFor(() => Volatile.Read(ref readings) - Volatile.Read(ref deleted) < Lead || deleting.IsCompleted, "no deletion came");
            Interlocked.Increment(ref readings);
            Assert.Equal(Count, harness.Engine.GetTrafficTotals().PeerPacketsSent);
        }

        await deleting;
        Assert.Equal(0, harness.Engine.Allocations.Count);
        Assert.Equal(Count, harness.Engine.GetTrafficTotals().PeerPacketsSent);
    }

    [Fact]
    public void Draining_answers_allocate_508_while_existing_allocations_refresh_and_relay_on()
    {
        var harness = new TurnHarness();
        Assert.True(harness.Client.Allocate().IsSuccess);

        harness.Engine.BeginDrain();

        Assert.True(harness.Engine.IsDraining);
        TurnHarness.SimulatedClient newcomer = harness.NewClient("198.51.100.8", 40001);
        Response refused = newcomer.Allocate();
        Assert.Equal(StunErrorCodes.InsufficientCapacity, refused.ErrorCode);
        Assert.True(refused.Message.VerifyMessageIntegrity(newcomer.Key)); // an authenticated answer, not a drop
        Assert.Equal(1, harness.Engine.Allocations.Count);

        Assert.True(harness.Client.Refresh(600).IsSuccess);
        Assert.True(harness.Client.CreatePermission("203.0.113.5:9000").IsSuccess);
        Assert.True(harness.Client.Refresh(0).IsSuccess);
        Assert.Equal(0, harness.Engine.Allocations.Count);
    }

    [Fact]
    public void Replaced_credential_sources_admit_new_users_and_refuse_removed_ones()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient carol = harness.NewClient("198.51.100.9", 40002, "carol", "pa55");
        Assert.Equal(StunErrorCodes.Unauthenticated, carol.Allocate().ErrorCode);

        var reloaded = new StaticUserCredentials(TurnHarness.Realm);
        reloaded.AddPassword("carol", "pa55");
        harness.Engine.ReplaceCredentialSources([reloaded]);

        Assert.True(carol.Allocate().IsSuccess);
        TurnHarness.SimulatedClient bob = harness.NewClient("198.51.100.10", 40003, "bob", "builder");
        Assert.Equal(StunErrorCodes.Unauthenticated, bob.Allocate().ErrorCode);
    }

    [Fact]
    public void A_replaced_peer_policy_applies_to_the_next_permission()
    {
        var harness = new TurnHarness();
        Assert.True(harness.Client.Allocate().IsSuccess);
        Assert.True(harness.Client.CreatePermission("203.0.113.5:9000").IsSuccess);

        Assert.True(IPAddressRange.TryParse("203.0.113.0/24", out IPAddressRange denied));
        harness.Engine.PeerPolicy = new PeerAddressPolicy(allowLoopback: false, denyMulticast: true, allowed: [], denied: [denied]);

        Assert.Equal(StunErrorCodes.Forbidden, harness.Client.CreatePermission("203.0.113.5:9000").ErrorCode);
        Assert.True(harness.Client.CreatePermission("198.51.100.200:9000").IsSuccess);
    }

    [Fact]
    public void Lowered_quotas_refuse_new_allocations_with_486_and_keep_existing_ones()
    {
        var harness = new TurnHarness();
        Assert.True(harness.Client.Allocate().IsSuccess);

        harness.Engine.Allocations.SetQuotas(userQuota: 1, totalQuota: 0, maxBps: 0);

        Assert.Equal(StunErrorCodes.AllocationQuotaReached, harness.NewClient("198.51.100.11", 40004).Allocate().ErrorCode);
        Assert.True(harness.NewClient("198.51.100.12", 40005, "bob", "builder").Allocate().IsSuccess);
        harness.Engine.Allocations.SetQuotas(userQuota: 0, totalQuota: 2, maxBps: 0);
        Assert.Equal(StunErrorCodes.AllocationQuotaReached, harness.NewClient("198.51.100.13", 40006, "bob", "builder").Allocate().ErrorCode);
        Assert.Equal(2, harness.Engine.Allocations.Count);
    }
}
