using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>The server in-process on loopback, driven over real UDP sockets.</summary>
public class UdpServerTests
{
    /// <summary>
    /// A relay address that cannot be bound (not on this host: EADDRNOTAVAIL) is not the ports' fault: the Allocate
    /// gets 508 at once and no port is quarantined, where each Allocate used to set aside every port it tried.
    /// </summary>
    [Theory]
    [LinuxEngineInlineData(true)]
    [InlineData(false)]
    public async Task A_relay_address_that_cannot_be_bound_gets_508_and_quarantines_no_port(bool linuxUdp)
    {
        await using TestServer server = await TestServer.StartAsync(["--relay-ip=192.0.2.77"], null, linuxUdp);
        using var client = new StunUdpClient(server.UdpEndPoint);
        byte[] refused = await client.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));

        Assert.Equal(StunErrorCodes.InsufficientCapacity, StunTestClient.Code(refused));
        Assert.Equal(0, server.Engine.Ports.QuarantinedCount);
        Assert.Equal(server.Engine.Ports.Capacity, server.Engine.Ports.FreeCount);
    }

    [Fact]
    public async Task Binding_returns_the_clients_address_as_xor_mapped()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var client = new StunUdpClient(server.UdpEndPoint);
        byte[] response = await client.RequestAsync(StunMethod.Binding);

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        Assert.Equal(StunMessageClass.SuccessResponse, message.Class);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        Assert.Equal(TransportAddress.FromEndPoint(client.LocalEndPoint), mapped);
    }

    [Fact]
    public async Task Channel_data_goes_to_the_peer_and_the_echo_comes_back_on_the_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync();
        TransportAddress peerAddress = TransportAddress.FromEndPoint(peer.EndPoint);
        byte[] bind = await client.RequestAsync(StunMethod.ChannelBind, (ref StunMessageWriter w) =>
        {
            w.WriteChannelNumber(0x4001);
            w.WriteXorAddress(StunAttributeType.XorPeerAddress, peerAddress);
        });
        Assert.Equal(0, StunTestClient.Code(bind));

        byte[] payload = [.. "hello through the relay"u8];
        var frame = new byte[4 + payload.Length];
        ChannelData.WriteHeader(frame, 0x4001, payload.Length);
        payload.CopyTo(frame, 4);
        client.SendRaw(frame);

        byte[] echoed = await client.ReceiveAsync();
        Assert.Equal(frame, echoed);
        (byte[] data, IPEndPoint from) = Assert.Single(peer.Received);
        Assert.Equal(payload, data);
        Assert.Equal(relayed.ToEndPoint(), from); // the peer saw the relayed transport address
    }

    [Fact]
    public async Task Max_bps_drops_what_a_burst_sends_beyond_its_bytes_per_second()
    {
        await using TestServer server = await TestServer.StartAsync("--max-bps=1000");
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        await client.AllocateAsync();
        await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));
        var frame = new byte[200];
        ChannelData.WriteHeader(frame, 0x4001, frame.Length - 4);

        for (int i = 0; i < 30; i++)
        {
            client.SendRaw(frame);
        }

        // Answered after the burst, from the same socket: every frame before it has been relayed or dropped.
        Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.Binding)));
        Core.Allocations.Allocation allocation = server.Engine.Allocations.All.Single();
        long relayed = allocation.PeerPacketsSent;
        Assert.InRange(relayed, 5, 10); // 1000 bytes a second is five frames: one window, or two if a second ended mid-burst
        Assert.True(server.Engine.Counters.GetDropped(DropReason.BandwidthLimit) >= 30 - relayed); // echoes over the limit may add to it
        Assert.Equal(1000, allocation.BandwidthLimit);
    }

    [Fact]
    public async Task Send_indication_reaches_the_peer_and_the_echo_comes_back_as_a_data_indication()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        await client.AllocateAsync();
        TransportAddress peerAddress = TransportAddress.FromEndPoint(peer.EndPoint);
        Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.CreatePermission, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, peerAddress))));

        byte[] payload = [1, 2, 3, 4, 5, 6, 7];
        client.SendRaw(client.Build(
            StunMethod.Send,
            (ref StunMessageWriter w) =>
            {
                w.WriteXorAddress(StunAttributeType.XorPeerAddress, peerAddress);
                w.WriteAttribute(StunAttributeType.Data, payload);
            },
            TransactionId.NewRandom(),
            sign: false,
            StunMessageClass.Indication));

        byte[] indication = await client.ReceiveAsync();
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(indication, out StunMessageReader message));
        Assert.Equal(StunMethod.Data, message.Method);
        Assert.Equal(StunMessageClass.Indication, message.Class);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress from));
        Assert.Equal(peerAddress, from);
        Assert.True(message.TryGetAttribute(StunAttributeType.Data, out ReadOnlySpan<byte> data));
        Assert.Equal(payload, data.ToArray());
    }

    [Fact]
    public async Task A_peer_without_permission_is_not_relayed()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync();
        using var friend = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        friend.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        TransportAddress friendAddress = TransportAddress.FromEndPoint((IPEndPoint)friend.LocalEndPoint!);
        Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.CreatePermission, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, friendAddress))));

        // Permissions are per IP, so the stranger needs another address than the friend's 127.0.0.1.
        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        stranger.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        stranger.SendTo("unsolicited"u8, relayed.ToEndPoint());
        friend.SendTo("expected"u8, relayed.ToEndPoint());

        // Both land on the same relay socket and are handled in order, so the first thing the client gets tells all.
        byte[] first = await client.ReceiveAsync();
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(first, out StunMessageReader message));
        Assert.True(message.TryGetAttribute(StunAttributeType.Data, out ReadOnlySpan<byte> data));
        Assert.Equal("expected"u8.ToArray(), data.ToArray());
        Allocation allocation = server.Engine.Allocations.All.Single();
        Assert.Equal(2, allocation.PeerPacketsReceived);
        Assert.Equal(1, allocation.PeerPacketsDropped);
        Assert.Equal(1, allocation.ClientPacketsSent);
    }

    [Fact]
    public async Task Malformed_datagrams_are_dropped_and_counted_and_the_server_keeps_answering()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var client = new StunUdpClient(server.UdpEndPoint);
        byte[] valid = client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false);
        byte[] wrongCookie = (byte[])valid.Clone();
        wrongCookie[4] ^= 0xFF;
        byte[] badLength = (byte[])valid.Clone();
        badLength[3] = 0x08;
        byte[] attributeOverrun = [.. valid, 0x00, 0x06, 0x00, 0x40];
        attributeOverrun[3] = 4;
        var random = new Random(7);
        var garbage = new List<byte[]>
        {
            valid[..1], valid[..19], wrongCookie, badLength, attributeOverrun,
            new byte[] { 0x40, 0x01, 0xFF, 0xFF, 0x00 }, // ChannelData claiming more than it has
            new byte[] { 0xFF, 0xFE },
        };
        for (int i = 0; i < 50; i++)
        {
            var bytes = new byte[random.Next(1, 600)];
            random.NextBytes(bytes);
            bytes[0] = (byte)(bytes[0] | 0x80); // neither STUN nor ChannelData
            garbage.Add(bytes);
        }

        foreach (byte[] datagram in garbage)
        {
            client.SendRaw(datagram);
        }

        // One socket, one loop: once this answer arrives every earlier datagram has been handled.
        byte[] response = await client.ExchangeAsync(valid);
        Assert.Equal(0, StunTestClient.Code(response));
        Assert.Equal(garbage.Count, server.Engine.Counters.TotalDropped);
        Assert.Equal(2, server.Engine.Counters.GetDropped(DropReason.StunTooShort));
        Assert.Equal(1, server.Engine.Counters.GetDropped(DropReason.StunBadHeader));
        Assert.Equal(1, server.Engine.Counters.GetDropped(DropReason.StunBadLength));
        Assert.Equal(1, server.Engine.Counters.GetDropped(DropReason.StunBadAttribute));
        Assert.Equal(1, server.Engine.Counters.GetDropped(DropReason.ChannelDataMalformed));
        Assert.Equal(51, server.Engine.Counters.GetDropped(DropReason.UnknownPacket));
    }

    [Fact]
    public async Task Retransmitted_allocate_over_udp_gets_the_same_response_and_one_relay_port()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var client = new StunUdpClient(server.UdpEndPoint);
        await client.RequestAsync(StunMethod.Binding);
        byte[] challenge = await client.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
        Assert.Equal(0, StunTestClient.Code(challenge)); // the helper answered the 401 and allocated
        Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));

        byte[] allocate = client.Build(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17), TransactionId.NewRandom(), sign: true);
        byte[] first = await client.ExchangeAsync(allocate);
        byte[] second = await client.ExchangeAsync(allocate);
        Assert.Equal(0, StunTestClient.Code(first));
        Assert.Equal(first, second);
        Assert.Equal(1, server.Engine.Allocations.Count);
        Assert.Equal(server.Engine.Ports.Capacity - 1, server.Engine.Ports.FreeCount);
    }

    [Fact]
    public async Task Relay_ip_chooses_the_relay_socket_and_external_ip_is_what_clients_are_told()
    {
        await using TestServer server = await TestServer.StartAsync("--relay-ip=127.0.0.2", "--external-ip=203.0.113.9/127.0.0.2");
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync();
        Assert.Equal(IPAddress.Parse("203.0.113.9"), relayed.ToIPAddress()); // advertised, as behind a 1:1 NAT

        await client.BindChannelAsync(0x4000, TransportAddress.FromEndPoint(peer.EndPoint));
        var frame = new byte[4 + 3];
        ChannelData.WriteHeader(frame, 0x4000, 3);
        client.SendRaw(frame);
        Assert.Equal(frame, await client.ReceiveAsync());
        (_, IPEndPoint from) = Assert.Single(peer.Received);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), from.Address); // the socket itself is on relay-ip
        Assert.Equal(relayed.Port, from.Port);
    }

    /// <summary>Many coTURN configs say relay-ip=0.0.0.0: the relay goes on the address the client reached, never 0.0.0.0.</summary>
    [Fact]
    public async Task A_wildcard_relay_ip_relays_on_the_address_the_client_reached()
    {
        await using TestServer server = await TestServer.StartAsync("--relay-ip=0.0.0.0");
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync();
        Assert.Equal(IPAddress.Loopback, relayed.ToIPAddress());
    }

    [Fact]
    public async Task Stopping_the_server_closes_relay_sockets_and_frees_their_ports()
    {
        await using TestServer server = await TestServer.StartAsync();
        TransportAddress relayed;
        using (var client = new StunUdpClient(server.UdpEndPoint))
        {
            relayed = await client.AllocateAsync();
        }

        await server.DisposeAsync();
        Assert.Equal(0, server.Engine.Allocations.Count);
        Assert.Equal(server.Engine.Ports.Capacity, server.Engine.Ports.FreeCount);
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(relayed.ToEndPoint()); // throws if the relay socket were still open
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        listener.Bind(server.UdpEndPoint);
    }
}
