using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>RFC 6062 TCP relaying: Allocate with TCP, Connect, ConnectionAttempt, ConnectionBind.</summary>
public class TcpRelayTests
{
    private const string Peer = "203.0.113.5:7000";
    private static readonly TransportAddress PeerAddress = TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer));

    [Fact]
    public void Tcp_allocate_over_tcp_binds_a_tcp_relay_and_refuses_udp_only_attributes()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        Assert.Equal(400, AllocateTcp(control, w => w.Add((ref StunMessageWriter x) => x.AppendAttribute((ushort)StunAttributeType.EvenPort, 1)[0] = 0)).ErrorCode);
        Assert.Equal(400, AllocateTcp(control, w => w.Add((ref StunMessageWriter x) => x.AppendAttribute((ushort)StunAttributeType.DontFragment, 0))).ErrorCode);
        Response ok = AllocateTcp(control);
        Assert.True(ok.IsSuccess);
        Assert.Single(harness.Relays.BoundTcp);
        Assert.True(harness.Engine.Allocations.All.Single().IsTcp);

        var noTcp = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, AllowTcpRelay = false });
        Assert.Equal(442, AllocateTcp(noTcp.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp)).ErrorCode);
    }

    [Fact]
    public async Task Connect_answers_with_a_connection_id_that_connection_bind_claims()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        FakeTcpRelay relay = harness.Relays.BoundTcp[0];

        Assert.Null(Connect(control, out TransactionId tid)); // answered later
        Assert.Equal(446, Connect(control, out _)!.ErrorCode); // already connecting to that peer
        (TransportAddress target, TaskCompletionSource<Relay.IPeerDataConnection?> result) = Assert.Single(relay.Connects);
        Assert.Equal(PeerAddress, target);

        var peerConnection = new FakePeerConnection(PeerAddress);
        result.SetResult(peerConnection);
        Response answer = await NextFrameAsync(control);
        Assert.Equal(tid, answer.Message.TransactionId);
        Assert.True(answer.IsSuccess);
        Assert.True(answer.Message.VerifyMessageIntegrity(control.Key));
        Assert.True(answer.Message.TryGetUInt32(StunAttributeType.ConnectionId, out uint connectionId));

        TurnHarness.SimulatedClient data = harness.NewClient("198.51.100.7", 40001, protocol: TransportProtocol.Tcp);
        Assert.Equal(400, ConnectionBind(data, connectionId + 1).ErrorCode);
        Response bound = ConnectionBind(data, connectionId);
        Assert.True(bound.IsSuccess);
        Assert.Same(peerConnection, data.Connection.BoundPeer);
        Assert.Equal(400, ConnectionBind(harness.NewClient("198.51.100.7", 40002, protocol: TransportProtocol.Tcp), connectionId).ErrorCode);
    }

    [Fact]
    public async Task A_failed_connect_answers_447_and_the_peer_can_be_tried_again()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        Connect(control, out _);
        harness.Relays.BoundTcp[0].Connects[0].Result.SetResult(null);
        Assert.Equal(447, (await NextFrameAsync(control)).ErrorCode);
        Assert.Null(Connect(control, out _)); // not 446: the failed attempt was forgotten
    }

    /// <summary>
    /// Each Connect under way holds a socket and a descriptor for up to 30 s: without a cap one client could hold
    /// thousands. Past <see cref="Allocation.MaxUnboundPeerConnections"/> the answer is 508 (Insufficient Capacity), and a
    /// finished attempt makes room again.
    /// </summary>
    [Fact]
    public async Task Connects_under_way_are_capped_per_allocation_and_more_get_508()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        for (int i = 0; i < Allocation.MaxUnboundPeerConnections; i++)
        {
            Assert.Null(Connect(control, out _, PeerOnPort(7000 + i))); // answered once the attempt ends
        }

        Assert.Equal(508, Connect(control, out _, PeerOnPort(8000))!.ErrorCode);
        Assert.Equal(Allocation.MaxUnboundPeerConnections, harness.Relays.BoundTcp[0].Connects.Count); // the refused one was never tried

        harness.Relays.BoundTcp[0].Connects[0].Result.SetResult(null);
        Assert.Equal(447, (await NextFrameAsync(control)).ErrorCode);
        Assert.Null(Connect(control, out _, PeerOnPort(8000))); // not 446: the refused Connect reserved nothing
    }

    /// <summary>
    /// Regression: the 64 peer connections an allocation may have waiting for a ConnectionBind counted only peers
    /// connecting in, so a client could Connect to port after port and never bind, holding a socket and a descriptor
    /// 30 s each. Connected peers count in the same 64, and with them the Connects under way: past them the answer is
    /// 508, and the relay never tries; one claimed makes room again.
    /// </summary>
    [Fact]
    public async Task Connected_peers_waiting_for_a_connection_bind_count_toward_the_64_and_more_connects_get_508()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        FakeTcpRelay relay = harness.Relays.BoundTcp[0];
        uint firstId = 0;
        for (int i = 0; i < Allocation.MaxUnboundPeerConnections - 1; i++)
        {
            Assert.Null(Connect(control, out _, PeerOnPort(7000 + i)));
            relay.Connects[i].Result.SetResult(new FakePeerConnection(PeerOnPort(7000 + i)));
            Response connected = await NextFrameAsync(control);
            Assert.True(connected.IsSuccess);
            if (i == 0)
            {
                Assert.True(connected.Message.TryGetUInt32(StunAttributeType.ConnectionId, out firstId));
            }
        }

        Assert.Null(Connect(control, out _, PeerOnPort(7999))); // the 64th, still under way
        Assert.Equal(508, Connect(control, out _, PeerOnPort(8000))!.ErrorCode);
        Assert.Equal(Allocation.MaxUnboundPeerConnections, relay.Connects.Count); // the refused one was never tried

        Assert.True(ConnectionBind(harness.NewClient("198.51.100.7", 40001, protocol: TransportProtocol.Tcp), firstId).IsSuccess);
        Assert.Null(Connect(control, out _, PeerOnPort(8000))); // not 446: the refused Connect reserved nothing
    }

    /// <summary>
    /// A Connect that succeeds when peers connecting in have meanwhile filled the 64 waiting places is not kept: its
    /// connection is closed and the answer is 447, and the peer may be tried again once there is room.
    /// </summary>
    [Fact]
    public async Task A_connect_that_ends_with_64_peer_connections_waiting_is_closed_and_answered_447()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        control.CreatePermission(Peer);
        Allocation allocation = harness.Engine.Allocations.All.Single();
        Assert.Null(Connect(control, out TransactionId tid, PeerOnPort(8000)));
        for (int i = 0; i < Allocation.MaxUnboundPeerConnections; i++)
        {
            var peer = new FakePeerConnection(PeerAddress.WithPort((ushort)(20000 + i)));
            allocation.AcceptPeerConnection(peer);
            Assert.False(peer.Disposed);
        }

        var late = new FakePeerConnection(PeerOnPort(8000));
        harness.Relays.BoundTcp[0].Connects[0].Result.SetResult(late);
        Response answer = await NextAnswerAsync(control, tid);
        Assert.Equal(447, answer.ErrorCode);
        Assert.True(late.Disposed);
        Assert.Equal(Allocation.MaxUnboundPeerConnections, allocation.UnboundPeerConnections);
        Assert.Equal(Allocation.MaxUnboundPeerConnections, harness.Engine.TcpConnections.Count);
    }

    [Fact]
    public void Connect_on_a_udp_allocation_is_400_and_without_allocation_437()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        Assert.Equal(437, Connect(control, out _)!.ErrorCode);
        control.Allocate();
        Assert.Equal(400, Connect(control, out _)!.ErrorCode);
    }

    [Fact]
    public void A_peer_connecting_in_needs_a_permission_then_the_client_gets_a_connection_attempt()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        Allocation allocation = harness.Engine.Allocations.All.Single();

        var stranger = new FakePeerConnection(PeerAddress);
        allocation.AcceptPeerConnection(stranger);
        Assert.True(stranger.Disposed);

        control.CreatePermission(Peer);
        int before = control.Connection.Frames.Count;
        var welcome = new FakePeerConnection(PeerAddress);
        allocation.AcceptPeerConnection(welcome);
        Assert.False(welcome.Disposed);
        var attempt = new Response(control.Connection.Frames[before]);
        Assert.Equal(StunMethod.ConnectionAttempt, attempt.Message.Method);
        Assert.Equal(StunMessageClass.Indication, attempt.Message.Class);
        Assert.Equal(PeerAddress, attempt.XorAddress(StunAttributeType.XorPeerAddress));
        Assert.True(attempt.Message.TryGetUInt32(StunAttributeType.ConnectionId, out uint connectionId));
        Assert.True(ConnectionBind(harness.NewClient("198.51.100.7", 40001, protocol: TransportProtocol.Tcp), connectionId).IsSuccess);
    }

    /// <summary>
    /// A permitted peer that connects from port after port gets at most 64 connections waiting for a ConnectionBind:
    /// the next is closed at once, with no ConnectionAttempt; one claimed, or expired, makes room again.
    /// </summary>
    [Fact]
    public void At_most_64_peer_connections_wait_for_a_connection_bind()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        control.CreatePermission(Peer);
        Allocation allocation = harness.Engine.Allocations.All.Single();
        var waiting = new List<FakePeerConnection>();
        for (int i = 0; i < Allocation.MaxUnboundPeerConnections; i++)
        {
            var peer = new FakePeerConnection(PeerAddress.WithPort((ushort)(20000 + i)));
            allocation.AcceptPeerConnection(peer);
            Assert.False(peer.Disposed);
            waiting.Add(peer);
        }

        int attempts = control.Connection.Frames.Count;
        var onePast = new FakePeerConnection(PeerAddress.WithPort(30000));
        allocation.AcceptPeerConnection(onePast);
        Assert.True(onePast.Disposed);
        Assert.Equal(attempts, control.Connection.Frames.Count); // no ConnectionAttempt for it
        Assert.Equal(Allocation.MaxUnboundPeerConnections, harness.Engine.TcpConnections.Count);

        harness.Time.Advance(TimeSpan.FromSeconds(31));
        harness.Engine.Sweep();
        Assert.All(waiting, p => Assert.True(p.Disposed));
        Assert.Equal(0, allocation.UnboundPeerConnections);
        var later = new FakePeerConnection(PeerAddress.WithPort(30001));
        allocation.AcceptPeerConnection(later);
        Assert.False(later.Disposed);
    }

    [Fact]
    public void An_unclaimed_peer_connection_is_closed_after_30_seconds()
    {
        (TurnHarness harness, _, FakePeerConnection peer) = PermittedPeerConnectsIn();
        harness.Time.Advance(TimeSpan.FromSeconds(29));
        harness.Engine.Sweep();
        Assert.False(peer.Disposed);
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        harness.Engine.Sweep();
        Assert.True(peer.Disposed);
        Assert.Equal(0, harness.Engine.TcpConnections.Count);
    }

    [Fact]
    public void Another_user_cannot_take_a_connection_and_the_connection_is_closed()
    {
        (TurnHarness harness, TurnHarness.SimulatedClient control, FakePeerConnection peer) = PermittedPeerConnectsIn();
        var attempt = new Response(control.Connection.Frames[^1]);
        attempt.Message.TryGetUInt32(StunAttributeType.ConnectionId, out uint connectionId);

        Response stolen = ConnectionBind(harness.NewClient("198.51.100.66", 1, "bob", "builder", TransportProtocol.Tcp), connectionId);
        Assert.Equal(441, stolen.ErrorCode);
        Assert.True(peer.Disposed);
    }

    /// <summary>A TCP allocation whose control connection permitted <see cref="Peer"/>, and that peer connecting in.</summary>
    private static (TurnHarness Harness, TurnHarness.SimulatedClient Control, FakePeerConnection Peer) PermittedPeerConnectsIn()
    {
        var harness = new TurnHarness();
        TurnHarness.SimulatedClient control = harness.NewClient("198.51.100.7", 40000, protocol: TransportProtocol.Tcp);
        AllocateTcp(control);
        control.CreatePermission(Peer);
        var peer = new FakePeerConnection(PeerAddress);
        harness.Engine.Allocations.All.Single().AcceptPeerConnection(peer);
        return (harness, control, peer);
    }

    private static Response AllocateTcp(TurnHarness.SimulatedClient client, Action<StunMessageWriterBox>? extra = null) =>
        client.Request(StunMethod.Allocate, w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 6));
            extra?.Invoke(w);
        });

    private static TransportAddress PeerOnPort(int port) => new(PeerAddress.ToIPAddress(), port);

    private static Response? Connect(TurnHarness.SimulatedClient client, out TransactionId transactionId, TransportAddress? peer = null)
    {
        // Learn a nonce first (any signed request does) so the Connect itself goes out signed.
        if (client.Nonce is null)
        {
            client.Request(StunMethod.Refresh);
        }

        transactionId = TransactionId.NewRandom();
        return client.Raw(client.Build(StunMethod.Connect, StunMessageClass.Request, w => w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, peer ?? PeerAddress)), transactionId, sign: true));
    }

    private static Response ConnectionBind(TurnHarness.SimulatedClient client, uint connectionId) =>
        client.Request(StunMethod.ConnectionBind, w => w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.ConnectionId, connectionId)));

    /// <summary>The answer to the request <paramref name="transactionId"/>, skipping ConnectionAttempt indications sent before it.</summary>
    private static async Task<Response> NextAnswerAsync(TurnHarness.SimulatedClient client, TransactionId transactionId)
    {
        while (true)
        {
            Response frame = await NextFrameAsync(client);
            if (frame.Message.TransactionId == transactionId)
            {
                return frame;
            }
        }
    }

    /// <summary>The next frame the control connection receives: answers to Connect arrive asynchronously.</summary>
    private static async Task<Response> NextFrameAsync(TurnHarness.SimulatedClient client) =>
        new(await client.Connection.NextFrameAsync(TimeSpan.FromSeconds(5)));
}
