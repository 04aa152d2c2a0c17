using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>max-bps and bps-capacity: per-allocation bytes per second each way, granted out of a server total.</summary>
public class BandwidthTests
{
    private const string Peer = "203.0.113.5:7000";

    [Fact]
    public void Channel_data_over_max_bps_in_one_second_is_dropped_and_the_next_second_passes_again()
    {
        TurnHarness harness = Limited(maxBps: 1000);
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);
        byte[] payload = new byte[196]; // 200 bytes with the ChannelData header

        bool[] sent = [.. Enumerable.Range(0, 6).Select(_ => harness.Client.ChannelData(0x4001, payload))];

        Assert.Equal([true, true, true, true, true, false], sent); // 5 x 200 = 1000 bytes fit, the sixth does not
        Assert.Equal(5, harness.Relays.Bound[0].Sent.Count);
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.BandwidthLimit));

        harness.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(harness.Client.ChannelData(0x4001, payload));
        Assert.Equal(6, harness.Relays.Bound[0].Sent.Count);
    }

    [Fact]
    public void Send_indications_count_against_the_same_limit()
    {
        TurnHarness harness = Limited(maxBps: 300);
        harness.Client.Allocate();
        harness.Client.CreatePermission(Peer);
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));
        Action<StunMessageWriterBox> send = w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, peer));
            w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.Data, new byte[100])); // 136-byte indication
        };

        harness.Client.Indication(StunMethod.Send, send);
        harness.Client.Indication(StunMethod.Send, send);
        harness.Client.Indication(StunMethod.Send, send);

        Assert.Equal(2, harness.Relays.Bound[0].Sent.Count);
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.BandwidthLimit));
    }

    [Fact]
    public void Data_from_peers_is_limited_on_its_own_count()
    {
        TurnHarness harness = Limited(maxBps: 500);
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);
        Allocation allocation = harness.Engine.Allocations.All.Single();
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));

        // The client's own sending this second does not use up the way back.
        Assert.True(harness.Client.ChannelData(0x4001, new byte[396]));
        bool[] delivered = [.. Enumerable.Range(0, 3).Select(_ => Deliver(allocation, new byte[196], peer))];

        Assert.Equal([true, true, false], delivered); // 200-byte ChannelData frames: two fit in 500
        Assert.Equal(2, harness.Client.Connection.Frames.Count(f => f.Length == 200));
        Assert.Equal(1, allocation.PeerPacketsDropped);
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.BandwidthLimit));
    }

    [Fact]
    public void Bps_capacity_grants_max_bps_while_it_lasts_then_the_rest_then_486_until_one_ends()
    {
        TurnHarness harness = Limited(maxBps: 1000, bpsCapacity: 2500);
        TurnHarness.SimulatedClient[] clients = [.. Enumerable.Range(0, 4).Select(i => harness.NewClient("198.51.100." + (20 + i), 40000 + i))];

        Response[] responses = [.. clients.Select(c => c.Allocate())];

        Assert.Equal([0, 0, 0, StunErrorCodes.AllocationQuotaReached], responses.Select(r => r.ErrorCode));
        Assert.Equal([1000L, 1000L, 500L], clients[..3].Select(c => Find(harness, c).BandwidthLimit));
        Assert.Equal(2500, harness.Engine.Allocations.BpsGranted);

        Assert.True(clients[0].Request(StunMethod.Refresh, w => w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 0))).IsSuccess);
        Assert.Equal(1500, harness.Engine.Allocations.BpsGranted);
        Assert.True(clients[3].Allocate().IsSuccess);
        Assert.Equal(1000, Find(harness, clients[3]).BandwidthLimit);
    }

    [Fact]
    public void Without_max_bps_nothing_is_limited_or_granted()
    {
        TurnHarness harness = Limited(maxBps: 0, bpsCapacity: 100);
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);

        Assert.All(Enumerable.Range(0, 10), _ => Assert.True(harness.Client.ChannelData(0x4001, new byte[500])));
        Assert.Equal(0, Find(harness, harness.Client).BandwidthLimit);
        Assert.Equal(0, harness.Engine.Allocations.BpsGranted);
    }

    [Fact]
    public void A_realm_max_bps_from_the_user_database_applies_to_new_allocations()
    {
        TurnHarness harness = Limited(maxBps: 0);
        harness.Engine.Allocations.SetQuotas(userQuota: 0, totalQuota: 0, maxBps: 64_000);

        harness.Client.Allocate();

        Assert.Equal(64_000, Find(harness, harness.Client).BandwidthLimit);
    }

    private static TurnHarness Limited(long maxBps, long bpsCapacity = 0) =>
        new(new TurnOptions { Realm = TurnHarness.Realm, MaxBps = maxBps, BpsCapacity = bpsCapacity });

    private static Allocation Find(TurnHarness harness, TurnHarness.SimulatedClient client) =>
        harness.Engine.Allocations.TryGet(client.FiveTuple, out Allocation allocation) ? allocation : throw new Xunit.Sdk.XunitException("no allocation");

    private static bool Deliver(Allocation allocation, byte[] payload, TransportAddress peer)
    {
        var buffer = new byte[Allocation.PeerDataHeadroom + payload.Length + Allocation.PeerDataTailroom];
        return allocation.ForwardToClient(buffer, Allocation.PeerDataHeadroom, payload.Length, peer);
    }
}
