using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Peers;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

public class PermissionAndChannelTests
{
    private const string Peer = "203.0.113.5:7000";

    [Fact]
    public void Create_permission_without_allocation_is_437_and_without_peer_is_400()
    {
        var harness = new TurnHarness();
        Assert.Equal(437, harness.Client.CreatePermission(Peer).ErrorCode);
        harness.Client.Allocate();
        Assert.Equal(400, harness.Client.CreatePermission().ErrorCode);
        Assert.True(harness.Client.CreatePermission(Peer, "203.0.113.6:1").IsSuccess);
        Assert.Equal(2, harness.Engine.Allocations.All.Single().Permissions.Count);
    }

    [Theory]
    [InlineData("127.0.0.1:9")]
    [InlineData("[::1]:9")]
    [InlineData("[::ffff:127.0.0.1]:9")]
    [InlineData("224.0.0.1:9")]
    [InlineData("0.0.0.0:9")]
    public void Loopback_multicast_and_unspecified_peers_are_403_by_default(string peer)
    {
        var harness = new TurnHarness();
        harness.Client.Allocate(w => w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.AdditionalAddressFamily, 0x02)));
        Assert.Equal(403, harness.Client.CreatePermission(peer).ErrorCode);
        Assert.Equal(403, harness.Client.ChannelBind(0x4000, peer).ErrorCode);
        Assert.Empty(harness.Engine.Allocations.All.Single().Permissions);
    }

    [Fact]
    public void One_forbidden_peer_refuses_the_whole_request()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        Assert.Equal(403, harness.Client.CreatePermission(Peer, "127.0.0.1:1").ErrorCode);
        Assert.Empty(harness.Engine.Allocations.All.Single().Permissions);
    }

    [Fact]
    public void Allow_loopback_peers_and_peer_ip_ranges_apply()
    {
        IPAddressRange.TryParse("203.0.113.0-203.0.113.255", out IPAddressRange denied);
        IPAddressRange.TryParse("203.0.113.5", out IPAddressRange allowed);
        var policy = new PeerAddressPolicy(allowLoopback: true, denyMulticast: true, [allowed], [denied]);
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, PeerPolicy = policy });
        harness.Client.Allocate();
        Assert.True(harness.Client.CreatePermission("127.0.0.1:5").IsSuccess);
        Assert.True(harness.Client.CreatePermission(Peer).IsSuccess);
        Assert.Equal(403, harness.Client.CreatePermission("203.0.113.6:5").ErrorCode);
    }

    [Fact]
    public void Peer_of_a_family_the_allocation_lacks_is_443()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        Assert.Equal(443, harness.Client.CreatePermission("[2001:db8::99]:5").ErrorCode);
        Assert.Equal(443, harness.Client.ChannelBind(0x4000, "[2001:db8::99]:5").ErrorCode);
    }

    [Theory]
    [InlineData(0x3FFF)]
    [InlineData(0x8000)]
    public void Channel_number_out_of_range_is_400(int channel)
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        Assert.Equal(400, harness.Client.ChannelBind((ushort)channel, Peer).ErrorCode);
    }

    [Fact]
    public void A_channel_binds_one_peer_and_a_peer_one_channel()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        Assert.True(harness.Client.ChannelBind(0x4000, Peer).IsSuccess);
        Assert.True(harness.Client.ChannelBind(0x4000, Peer).IsSuccess); // refresh
        Assert.Equal(400, harness.Client.ChannelBind(0x4000, "203.0.113.9:1").ErrorCode);
        Assert.Equal(400, harness.Client.ChannelBind(0x4001, Peer).ErrorCode);
        Assert.True(harness.Client.ChannelBind(0x7FFF, "203.0.113.9:1").IsSuccess);
        Assert.Single(harness.Engine.Allocations.All.Single().Permissions, p => p.PeerAddress.ToIPAddress().Equals(IPAddress.Parse("203.0.113.5")));
    }

    [Fact]
    public void An_expired_channel_cannot_be_rebound_to_another_peer_for_five_minutes()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, MaxAllocationLifetimeSeconds = 3600 });
        harness.Client.Allocate(w => w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 3600)));
        harness.Client.ChannelBind(0x4000, Peer);
        harness.Time.Advance(TimeSpan.FromSeconds(601));
        harness.Engine.Sweep();
        Assert.Equal(400, harness.Client.ChannelBind(0x4000, "203.0.113.9:1").ErrorCode);
        harness.Time.Advance(TimeSpan.FromSeconds(300));
        harness.Engine.Sweep();
        Assert.True(harness.Client.ChannelBind(0x4000, "203.0.113.9:1").IsSuccess);
    }

    /// <summary>The one dispatch every datagram transport uses: ChannelData relayed, STUN answered, anything else left to the caller.</summary>
    [Fact]
    public void ProcessMessage_relays_channel_data_answers_stun_and_refuses_other_kinds()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);
        var connection = new RecordingClient(TransportProtocol.Udp);
        var scratch = new SendScratch();
        byte[] response = new byte[1500];

        Assert.Equal(0, harness.Engine.ProcessMessage(PacketKind.ChannelData, [0x40, 0x01, 0x00, 0x02, 7, 8], harness.Client.FiveTuple, connection, scratch, response));
        Assert.Equal(new byte[] { 7, 8 }, Assert.Single(harness.Relays.Bound[0].Sent).Payload);

        byte[] binding = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, .. new byte[12]];
        int length = harness.Engine.ProcessMessage(PacketKind.Stun, binding, harness.Client.FiveTuple, connection, scratch, response);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response.AsSpan(0, length), out StunMessageReader answer));
        Assert.Equal((StunMethod.Binding, StunMessageClass.SuccessResponse), (answer.Method, answer.Class));

        Assert.Equal(-1, harness.Engine.ProcessMessage(PacketKind.Dtls, [22, 0xFE, 0xFD], harness.Client.FiveTuple, connection, scratch, response));
        Assert.Equal(-1, harness.Engine.ProcessMessage(PacketKind.Unknown, [0xFF], harness.Client.FiveTuple, connection, scratch, response));
        Assert.Single(harness.Relays.Bound[0].Sent);
    }

    [Fact]
    public void ChannelData_reaches_the_bound_peer_from_the_relay()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);
        FakeRelay relay = harness.Relays.Bound[0];

        Assert.True(harness.Client.ChannelData(0x4001, [1, 2, 3, 4, 5]));

        (byte[] payload, TransportAddress peer) = Assert.Single(relay.Sent);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, payload);
        Assert.Equal(TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer)), peer);
        var allocation = harness.Engine.Allocations.All.Single();
        Assert.Equal(1, allocation.PeerPacketsSent);
        Assert.Equal(5, allocation.PeerBytesSent);
    }

    [Fact]
    public void ChannelData_on_unbound_or_expired_channel_or_without_allocation_is_dropped_and_counted()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, MaxAllocationLifetimeSeconds = 3600 });
        Assert.False(harness.Client.ChannelData(0x4001, [1]));
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.NoAllocation));

        harness.Client.Allocate(w => w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 3600)));
        Assert.False(harness.Client.ChannelData(0x4001, [1]));
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.ChannelNotBound));

        harness.Client.ChannelBind(0x4001, Peer);
        harness.Time.Advance(TimeSpan.FromSeconds(601)); // the channel's 600 s are up, the allocation's are not
        Assert.False(harness.Client.ChannelData(0x4001, [1]));
        Assert.Equal(2, harness.Engine.Counters.GetDropped(DropReason.ChannelNotBound));
        Assert.Empty(harness.Relays.Bound[0].Sent);

        Assert.False(harness.Engine.ProcessChannelData([0x40, 0x01, 0x00, 0x09, 1], harness.Client.FiveTuple));
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.ChannelDataMalformed));
    }

    [Fact]
    public void ChannelData_stops_when_the_permission_lapses_even_if_the_channel_lives()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.ChannelBind(0x4001, Peer);
        harness.Time.Advance(TimeSpan.FromSeconds(301));
        Assert.False(harness.Client.ChannelData(0x4001, [1]));
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.NoPermission));
    }

    [Fact]
    public void Send_indication_reaches_a_permitted_peer_only()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));
        Action<StunMessageWriterBox> send = w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, peer));
            w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.Data, [9, 8, 7]));
        };

        harness.Client.Indication(StunMethod.Send, send);
        Assert.Empty(harness.Relays.Bound[0].Sent);
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.NoPermission));

        harness.Client.CreatePermission("203.0.113.5:1"); // port is ignored
        harness.Client.Indication(StunMethod.Send, send);
        (byte[] payload, TransportAddress to) = Assert.Single(harness.Relays.Bound[0].Sent);
        Assert.Equal(new byte[] { 9, 8, 7 }, payload);
        Assert.Equal(peer, to);

        harness.Client.Indication(StunMethod.Send, w => w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, peer)));
        Assert.Equal(1, harness.Engine.Counters.GetDropped(DropReason.SendIndicationMalformed));

        // RFC 8489 section 6.3.2: an unknown comprehension-required attribute discards the indication.
        harness.Client.Indication(StunMethod.Send, w =>
        {
            send(w);
            w.Add((ref StunMessageWriter x) => x.WriteAttribute((StunAttributeType)0x0077, [1, 2, 3, 4]));
        });
        Assert.Single(harness.Relays.Bound[0].Sent);
        Assert.Equal(2, harness.Engine.Counters.GetDropped(DropReason.SendIndicationMalformed));

        // Port 0 is no destination (and the kernel would refuse a segmented send to it, for the whole run).
        TransportAddress portZero = new(peer.ToIPAddress(), 0);
        harness.Client.Indication(StunMethod.Send, w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, portZero));
            w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.Data, [9, 8, 7]));
        });
        Assert.Single(harness.Relays.Bound[0].Sent);
        Assert.Equal(3, harness.Engine.Counters.GetDropped(DropReason.SendIndicationMalformed));
        Assert.Equal(400, harness.Client.ChannelBind(0x4000, "203.0.113.5:0").ErrorCode);
    }

    [Fact]
    public void Peer_data_becomes_channel_data_or_a_data_indication_written_in_place()
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, Fingerprint = true });
        harness.Client.Allocate();
        var allocation = harness.Engine.Allocations.All.Single();
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));
        TransportAddress otherPort = peer.WithPort(7001);
        byte[] payload = [0xDE, 0xAD, 0xBE, 0xEF, 0x01];

        Assert.False(Deliver(allocation, payload, peer));
        Assert.Equal(1, allocation.PeerPacketsDropped);

        harness.Client.ChannelBind(0x4002, Peer);
        Assert.True(Deliver(allocation, payload, peer));
        byte[] channelFrame = harness.Client.Connection.Frames[^1];
        Assert.Equal("40020005DEADBEEF01", Convert.ToHexString(channelFrame));

        // Same IP, another port: permitted, but not the channel's peer, so a Data indication.
        Assert.True(Deliver(allocation, payload, otherPort));
        byte[] indication = harness.Client.Connection.Frames[^1];
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(indication, out StunMessageReader message));
        Assert.Equal(StunMethod.Data, message.Method);
        Assert.Equal(StunMessageClass.Indication, message.Class);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress from));
        Assert.Equal(otherPort, from);
        Assert.True(message.TryGetAttribute(StunAttributeType.Data, out ReadOnlySpan<byte> data));
        Assert.Equal(payload, data.ToArray());
        Assert.True(message.HasFingerprint);
        Assert.Equal(2, allocation.ClientPacketsSent);
    }

    [Fact]
    public void Peer_data_that_arrives_after_the_allocation_ended_is_dropped()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        var allocation = harness.Engine.Allocations.All.Single();
        harness.Client.ChannelBind(0x4002, Peer);
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));

        // The relay's receive loop may hold a datagram it read just before Refresh(0) closed the socket.
        Assert.True(harness.Client.Refresh(0).IsSuccess);
        int frames = harness.Client.Connection.Frames.Count;

        Assert.False(Deliver(allocation, [1, 2, 3], peer));
        Assert.Equal(frames, harness.Client.Connection.Frames.Count);
        Assert.Equal(1, allocation.PeerPacketsDropped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Server_relay_lets_peers_without_a_permission_reach_the_client(bool serverRelay)
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, ServerRelay = serverRelay });
        harness.Client.Allocate();
        var allocation = harness.Engine.Allocations.All.Single();
        TransportAddress stranger = TransportAddress.FromEndPoint(IPEndPoint.Parse("198.51.100.200:9999"));

        Assert.Equal(serverRelay, Deliver(allocation, [1, 2, 3], stranger));

        Assert.Equal(serverRelay ? 1 : 0, harness.Client.Connection.Frames.Count);
        Assert.Equal(serverRelay ? 0 : 1, allocation.PeerPacketsDropped);
        if (serverRelay)
        {
            Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(harness.Client.Connection.Frames[0], out StunMessageReader message));
            Assert.Equal((StunMethod.Data, StunMessageClass.Indication), (message.Method, message.Class));
            Assert.True(message.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress from));
            Assert.Equal(stranger, from);
        }
    }

    /// <summary>
    /// Regression: data dropped on the way to a client that does not read (a stalled TCP or TLS connection) was counted
    /// as sent to it, so the session's usage line and turn_traffic_sentp/sentb showed megabytes it never got.
    /// </summary>
    [Fact]
    public void Data_the_client_connection_drops_is_counted_as_dropped_not_as_sent()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        harness.Client.CreatePermission("203.0.113.5:7000");
        var allocation = harness.Engine.Allocations.All.Single();
        TransportAddress peer = TransportAddress.FromEndPoint(IPEndPoint.Parse("203.0.113.5:7000"));
        Assert.True(Deliver(allocation, [1, 2, 3], peer));
        (long packets, long bytes) = (allocation.ClientPacketsSent, allocation.ClientBytesSent);

        harness.Client.Connection.Refuses = true;

        Assert.False(Deliver(allocation, [1, 2, 3], peer));
        Assert.Equal((packets, bytes), (allocation.ClientPacketsSent, allocation.ClientBytesSent));
        Assert.Equal(1, allocation.PeerPacketsDropped);
    }

    private static bool Deliver(Allocations.Allocation allocation, byte[] payload, TransportAddress peer)
    {
        var buffer = new byte[Allocations.Allocation.PeerDataHeadroom + payload.Length + Allocations.Allocation.PeerDataTailroom];
        payload.CopyTo(buffer, Allocations.Allocation.PeerDataHeadroom);
        return allocation.ForwardToClient(buffer, Allocations.Allocation.PeerDataHeadroom, payload.Length, peer);
    }

    [Fact]
    public void Permissions_stop_at_the_cap_with_508_and_a_refused_request_installs_none()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        string[] Peers(int first, int count) => [.. Enumerable.Range(first, count).Select(i => $"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:1")];

        for (int first = 0; first < Allocation.MaxPermissions; first += 100)
        {
            Assert.True(harness.Client.CreatePermission(Peers(first, Math.Min(100, Allocation.MaxPermissions - first))).IsSuccess);
        }

        Allocation allocation = Assert.Single(harness.Engine.Allocations.All);
        Assert.Equal(Allocation.MaxPermissions, allocation.Permissions.Count);

        // One new peer beside a refresh of held ones: refused whole, so the held one is not refreshed either.
        Assert.Equal(508, harness.Client.CreatePermission([.. Peers(0, 1), .. Peers(Allocation.MaxPermissions, 1)]).ErrorCode);
        Assert.Equal(508, harness.Client.ChannelBind(0x4000, "192.0.2.200:5000").ErrorCode);
        Assert.Equal(Allocation.MaxPermissions, allocation.Permissions.Count);

        // Refreshing held permissions, and binding a channel to a peer that has one, still work at the cap.
        Assert.True(harness.Client.CreatePermission(Peers(0, 10)).IsSuccess);
        Assert.True(harness.Client.ChannelBind(0x4000, "10.0.0.5:5000").IsSuccess);

        // Once expired permissions are swept, there is room again.
        harness.Time.Advance(TimeSpan.FromSeconds(301));
        harness.Engine.Sweep();
        Assert.True(harness.Client.CreatePermission(Peers(Allocation.MaxPermissions, 1)).IsSuccess);
    }

    [Fact]
    public void Channel_bindings_stop_at_the_cap_with_508()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();
        for (int i = 0; i < Allocation.MaxChannels; i++)
        {
            Assert.True(harness.Client.ChannelBind((ushort)(0x4000 + i), $"203.0.113.5:{10000 + i}").IsSuccess);
        }

        Assert.Equal(508, harness.Client.ChannelBind((ushort)(0x4000 + Allocation.MaxChannels), "203.0.113.5:9999").ErrorCode);
        Assert.True(harness.Client.ChannelBind(0x4000, "203.0.113.5:10000").IsSuccess); // a refresh still works
    }
}
