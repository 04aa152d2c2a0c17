using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>The relay path in both directions allocates nothing once warm (DESIGN: no allocation per packet).</summary>
public class AllocationFreeRelayTests
{
    private const string Peer = "203.0.113.5:7000";

    [Fact]
    public void Channel_data_from_client_to_peer_allocates_nothing()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);
        var relay = (FakeRelay)harness.Engine.Allocations.All.Single().RelayV4!;
        relay.Recording = false;
        var packet = new byte[4 + 160];
        ChannelData.WriteHeader(packet, 0x4001, 160);
        FiveTuple fiveTuple = harness.Client.FiveTuple;
        Assert.True(harness.Engine.ProcessChannelData(packet, fiveTuple));

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            harness.Engine.ProcessChannelData(packet, fiveTuple);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1001, relay.SendCount);
    }

    [Fact]
    public void Send_indication_from_client_to_peer_allocates_nothing()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.CreatePermission(Peer);
        var relay = (FakeRelay)harness.Engine.Allocations.All.Single().RelayV4!;
        relay.Recording = false;
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));
        var buffer = new byte[512];
        var writer = new StunMessageWriter(buffer, StunMethod.Send, StunMessageClass.Indication, TransactionId.NewRandom());
        writer.WriteXorAddress(StunAttributeType.XorPeerAddress, peer);
        writer.WriteAttribute(StunAttributeType.Data, new byte[160]);
        byte[] indication = writer.Written.ToArray();
        var scratch = new SendScratch();
        var response = new byte[1500];
        FiveTuple fiveTuple = harness.Client.FiveTuple;
        harness.Engine.ProcessStun(indication, fiveTuple, harness.Client.Connection, scratch, response);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            harness.Engine.ProcessStun(indication, fiveTuple, harness.Client.Connection, scratch, response);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1001, relay.SendCount);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Peer_data_to_client_allocates_nothing(bool withChannel)
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        if (withChannel)
        {
            harness.Client.ChannelBind(0x4001, Peer);
        }
        else
        {
            harness.Client.CreatePermission(Peer);
        }

        Allocation allocation = harness.Engine.Allocations.All.Single();
        var client = new CountingClient();
        var quiet = (RecordingClient)allocation.Client;
        quiet.Forward = client;
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));
        var buffer = new byte[Allocation.PeerDataHeadroom + 160 + Allocation.PeerDataTailroom];
        allocation.ForwardToClient(buffer, Allocation.PeerDataHeadroom, 160, peer);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            allocation.ForwardToClient(buffer, Allocation.PeerDataHeadroom, 160, peer);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1001, client.Count);
    }

    private sealed class CountingClient : ClientConnection
    {
        public int Count { get; private set; }

        public override TransportProtocol Protocol => TransportProtocol.Udp;

        public override bool Send(ReadOnlySpan<byte> frame) => ++Count > 0;
    }
}
