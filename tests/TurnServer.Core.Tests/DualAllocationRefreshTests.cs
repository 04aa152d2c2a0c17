using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>
/// RFC 8656 section 8.1: "When refreshing a dual allocation, the client includes a REQUESTED-ADDRESS-FAMILY attribute
/// indicating the address family type that should be refreshed"; a lifetime of 0 deletes that family's relay alone, with
/// its permissions and channels, and nothing of the other family's.
/// </summary>
public class DualAllocationRefreshTests
{
    private const string PeerV4 = "203.0.113.5:7000";
    private const string PeerV6 = "[2001:db8::5]:7000";

    [Fact]
    public void Deleting_one_family_closes_its_relay_returns_its_port_and_drops_its_permissions_and_channels()
    {
        var harness = new TurnHarness();
        Allocation allocation = AllocateDual(harness);
        Assert.True(harness.Client.ChannelBind(0x4000, PeerV4).IsSuccess);
        Assert.True(harness.Client.ChannelBind(0x4001, PeerV6).IsSuccess);
        var v4 = (FakeRelay)allocation.RelayV4!;
        var v6 = (FakeRelay)allocation.RelayV6!;
        int free = harness.Engine.Ports.FreeCount;

        Response deleted = Refresh(harness, family: 0x02, lifetime: 0);

        Assert.True(deleted.IsSuccess);
        Assert.True(deleted.Message.TryGetUInt32(StunAttributeType.Lifetime, out uint lifetime));
        Assert.Equal(0u, lifetime);
        Assert.Same(allocation, Assert.Single(harness.Engine.Allocations.All));
        Assert.Null(allocation.RelayV6);
        Assert.Same(v4, allocation.RelayV4);
        Assert.True(v6.Disposed);
        Assert.False(v4.Disposed);
        Assert.Equal(free + 1, harness.Engine.Ports.FreeCount);
        Assert.True(Assert.Single(allocation.Permissions).PeerAddress.IsIPv4);
        Assert.Equal(0x4000, Assert.Single(allocation.Channels).Number);
        Assert.True(allocation.RelayedTransportAddress.IsIPv4);
        Assert.Empty(harness.Observer.Ended);
        Assert.Equal(600u, harness.Observer.Refreshed[^1].Lifetime); // the IPv4 relay's time left
        Assert.Equal((v6.LocalAddress, AllocationEndReason.Deleted), Assert.Single(harness.Observer.RelaysDeleted));

        // The IPv6 side is gone: its channel relays nothing, its family is 443 from now on; IPv4 relays as before.
        Assert.False(harness.Client.ChannelData(0x4001, [1, 2, 3]));
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.ChannelNotBound));
        Assert.True(harness.Client.ChannelData(0x4000, [4, 5, 6]));
        Assert.Equal([4, 5, 6], Assert.Single(v4.Sent).Payload);
        Assert.Equal(443, Refresh(harness, family: 0x02, lifetime: 600).ErrorCode);
        Assert.Equal(443, harness.Client.CreatePermission(PeerV6).ErrorCode);
    }

    [Fact]
    public void Deleting_the_other_family_as_well_leaves_the_allocation_to_an_ordinary_delete()
    {
        var harness = new TurnHarness();
        Allocation allocation = AllocateDual(harness);
        int free = harness.Engine.Ports.FreeCount;

        Assert.True(Refresh(harness, family: 0x01, lifetime: 0).IsSuccess);
        Assert.Null(allocation.RelayV4);
        Assert.True(allocation.RelayedTransportAddress.IsIPv6); // the additional address is the only one left

        // No longer dual: deleting the last family deletes the allocation.
        Assert.True(Refresh(harness, family: 0x02, lifetime: 0).IsSuccess);
        Assert.Empty(harness.Engine.Allocations.All);
        Assert.Equal(AllocationEndReason.Deleted, Assert.Single(harness.Observer.Ended).Reason);
        Assert.Equal(free + 2, harness.Engine.Ports.FreeCount);
    }

    [Fact]
    public void Refreshing_one_family_lets_the_other_expire_alone_and_the_allocation_with_the_later()
    {
        var harness = new TurnHarness();
        Allocation allocation = AllocateDual(harness);
        var v6 = (FakeRelay)allocation.RelayV6!;
        int free = harness.Engine.Ports.FreeCount;

        Response refreshed = Refresh(harness, family: 0x01, lifetime: 1200);
        Assert.True(refreshed.IsSuccess);
        Assert.True(refreshed.Message.TryGetUInt32(StunAttributeType.Lifetime, out uint lifetime));
        Assert.Equal(1200u, lifetime);

        harness.Time.Advance(TimeSpan.FromSeconds(601)); // past the IPv6 relay's 600 s
        harness.Engine.Sweep();
        Assert.Same(allocation, Assert.Single(harness.Engine.Allocations.All));
        Assert.Null(allocation.RelayV6);
        Assert.True(v6.Disposed);
        Assert.Equal(free + 1, harness.Engine.Ports.FreeCount);
        Assert.Empty(harness.Observer.Ended);
        Assert.Equal((v6.LocalAddress, AllocationEndReason.Expired), Assert.Single(harness.Observer.RelaysDeleted));

        harness.Time.Advance(TimeSpan.FromSeconds(600)); // past the IPv4 relay's 1,200 s
        harness.Engine.Sweep();
        Assert.Equal(AllocationEndReason.Expired, Assert.Single(harness.Observer.Ended).Reason);
        Assert.Equal(free + 2, harness.Engine.Ports.FreeCount);
    }

    [Fact]
    public void A_refresh_without_a_family_refreshes_both_relays()
    {
        var harness = new TurnHarness();
        Allocation allocation = AllocateDual(harness);
        Assert.True(Refresh(harness, family: 0x01, lifetime: 60).IsSuccess); // IPv4 would go first
        Assert.True(harness.Client.Refresh(1200).IsSuccess);

        harness.Time.Advance(TimeSpan.FromSeconds(700));
        harness.Engine.Sweep();
        Assert.NotNull(allocation.RelayV4);
        Assert.NotNull(allocation.RelayV6);
        Assert.Equal(500, allocation.SecondsToExpiry);
    }

    private static Allocation AllocateDual(TurnHarness harness)
    {
        Assert.True(harness.Client.Allocate(w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.AdditionalAddressFamily, 0x02))).IsSuccess);
        Assert.True(harness.Client.CreatePermission(PeerV4, PeerV6).IsSuccess);
        Allocation allocation = Assert.Single(harness.Engine.Allocations.All);
        Assert.True(allocation.IsDual);
        Assert.Equal(AddressFamily.InterNetworkV6, allocation.RelayV6!.Family);
        return allocation;
    }

    private static Response Refresh(TurnHarness harness, byte family, uint lifetime) => harness.Client.Request(StunMethod.Refresh, w =>
    {
        w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, family));
        w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, lifetime));
    });
}
