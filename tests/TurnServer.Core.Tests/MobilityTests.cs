using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>RFC 8016 mobility: MOBILITY-TICKET at Allocate, and the Refresh that moves an allocation to a new 5-tuple.</summary>
public sealed class MobilityTests
{
    private const string Peer = "203.0.113.9:5000";

    private static readonly TurnOptions MobileOptions = new() { Realm = TurnHarness.Realm, Mobility = true };

    [Fact]
    public void Allocate_with_an_empty_ticket_gets_a_printable_ticket_after_lifetime()
    {
        var harness = new TurnHarness(MobileOptions);

        Response response = harness.Client.Allocate(EmptyTicket);

        Assert.True(response.IsSuccess);
        string ticket = response.Text(StunAttributeType.MobilityTicket);
        Assert.InRange(ticket.Length, 16, 32);
        Assert.All(ticket, c => Assert.InRange(c, '!', '~'));
        Assert.Equal(ticket, harness.Observer.Created.Single().MobilityTicket);
        Assert.True(IndexOf(response, StunAttributeType.Lifetime) < IndexOf(response, StunAttributeType.MobilityTicket));
    }

    [Fact]
    public void Allocate_without_the_attribute_gets_no_ticket()
    {
        var harness = new TurnHarness(MobileOptions);

        Response response = harness.Client.Allocate();

        Assert.True(response.IsSuccess);
        Assert.False(response.Message.HasAttribute(StunAttributeType.MobilityTicket));
        Assert.Null(harness.Observer.Created.Single().MobilityTicket);
    }

    [Fact]
    public void Allocate_asking_for_mobility_gets_405_when_it_is_off()
    {
        var harness = new TurnHarness();

        Response response = harness.Client.Allocate(EmptyTicket);

        Assert.Equal(StunErrorCodes.MobilityForbidden, response.ErrorCode);
        Assert.Empty(harness.Observer.Created);
    }

    [Fact]
    public void Allocate_with_a_non_empty_ticket_gets_400()
    {
        var harness = new TurnHarness(MobileOptions);

        Response response = harness.Client.Allocate(w => w.Add((ref StunMessageWriter x) => x.WriteText(StunAttributeType.MobilityTicket, "made-up")));

        Assert.Equal(StunErrorCodes.BadRequest, response.ErrorCode);
    }

    [Fact]
    public void Tcp_relay_allocations_cannot_be_mobile()
    {
        var harness = new TurnHarness(MobileOptions);
        TurnHarness.SimulatedClient client = harness.NewClient("198.51.100.7", 40001, protocol: TransportProtocol.Tcp);

        Response response = client.Request(StunMethod.Allocate, w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 6));
            EmptyTicket(w);
        });

        Assert.Equal(StunErrorCodes.MobilityForbidden, response.ErrorCode);
    }

    [Fact]
    public void Refresh_with_the_ticket_from_a_new_address_moves_the_allocation_and_its_traffic()
    {
        var harness = new TurnHarness(MobileOptions);
        string ticket = harness.Client.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        Assert.True(harness.Client.ChannelBind(0x4000, Peer).IsSuccess);
        Allocation allocation = harness.Observer.Created.Single();
        TurnHarness.SimulatedClient moved = harness.NewClient("198.51.100.80", 50000);

        Response response = RefreshWithTicket(moved, ticket);

        Assert.True(response.IsSuccess);
        Assert.Equal(600u, Lifetime(response));
        string next = response.Text(StunAttributeType.MobilityTicket);
        Assert.NotEqual(ticket, next);
        Assert.Equal(moved.FiveTuple, allocation.FiveTuple);
        Assert.Same(allocation, Single(harness.Engine.Allocations));

        // The channel came along: ChannelData from the new address reaches the peer, the peer's answer goes there.
        Assert.True(moved.ChannelData(0x4000, [1, 2, 3]));
        FakeRelay relay = harness.Relays.Bound.Single();
        Assert.Equal([1, 2, 3], relay.Sent.Single().Payload);
        Assert.True(Deliver(allocation, [4, 5], TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer))));
        Assert.Equal([0x40, 0x00, 0x00, 0x02, 4, 5], moved.Connection.Frames.Single());
        Assert.Empty(harness.Client.Connection.Frames);

        // The old address has nothing left.
        Assert.False(harness.Client.ChannelData(0x4000, [9]));
        Assert.Equal(StunErrorCodes.AllocationMismatch, harness.Client.Refresh(600).ErrorCode);
        Assert.Equal(harness.Client.FiveTuple, harness.Observer.Moved.Single().From);
    }

    /// <summary>
    /// Regression: a move left the old connection believing it still carried the allocation, so a DTLS session (or a
    /// TLS connection) the client had left held its thread and session slot for good.
    /// </summary>
    [Fact]
    public void A_move_tells_the_connection_it_left()
    {
        var harness = new TurnHarness(MobileOptions);
        TurnHarness.SimulatedClient first = harness.NewClient("198.51.100.70", 40000, protocol: TransportProtocol.Tls);
        string ticket = first.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        TurnHarness.SimulatedClient moved = harness.NewClient("198.51.100.80", 50000, protocol: TransportProtocol.Tls);

        Assert.True(RefreshWithTicket(moved, ticket).IsSuccess);

        Assert.Equal(1, first.Connection.ReleasedCount);
        Assert.Equal(0, moved.Connection.ReleasedCount);
        Assert.Same(moved.Connection, harness.Observer.Created.Single().Client);
    }

    /// <summary>
    /// Regression: a client that reconnected over TLS or DTLS from the same address and port presented its ticket on
    /// the allocation's own 5-tuple, but the allocation stayed with the dead connection: the Refresh succeeded while
    /// peer data went nowhere. It now follows the connection the ticket came on.
    /// </summary>
    [Fact]
    public void A_ticket_on_the_own_five_tuple_through_a_new_connection_takes_the_allocation_along()
    {
        var harness = new TurnHarness(MobileOptions);
        TurnHarness.SimulatedClient first = harness.NewClient("198.51.100.70", 40000, protocol: TransportProtocol.Tls);
        string ticket = first.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        Assert.True(first.ChannelBind(0x4000, Peer).IsSuccess);
        Allocation allocation = harness.Observer.Created.Single();
        TurnHarness.SimulatedClient reconnected = harness.NewClient("198.51.100.70", 40000, protocol: TransportProtocol.Tls);

        Response response = RefreshWithTicket(reconnected, ticket);

        Assert.True(response.IsSuccess);
        Assert.Same(reconnected.Connection, allocation.Client);
        Assert.Equal(1, first.Connection.ReleasedCount);
        Assert.True(Deliver(allocation, [4, 5], TransportAddress.FromEndPoint(IPEndPoint.Parse(Peer))));
        Assert.Equal([0x40, 0x00, 0x00, 0x02, 4, 5, 0, 0], reconnected.Connection.Frames.Last()); // padded to 4 on a stream
        Assert.Empty(harness.Observer.Moved);
    }

    [Fact]
    public void A_retransmitted_move_gets_the_same_answer_and_the_old_ticket_still_refreshes_on_the_new_address()
    {
        var harness = new TurnHarness(MobileOptions);
        string ticket = harness.Client.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        TurnHarness.SimulatedClient moved = harness.NewClient("198.51.100.7", 40010); // same IP: the nonce stays valid
        moved.Nonce = harness.Client.Nonce;
        TransactionId id = TransactionId.NewRandom();

        Response first = moved.Send(StunMethod.Refresh, TicketAttributes(ticket), id, sign: true);
        Response again = moved.Send(StunMethod.Refresh, TicketAttributes(ticket), id, sign: true);
        Response later = RefreshWithTicket(moved, ticket);

        Assert.True(first.IsSuccess);
        Assert.Equal(first.Bytes, again.Bytes);
        Assert.True(later.IsSuccess);
        Assert.Equal(first.Text(StunAttributeType.MobilityTicket), later.Text(StunAttributeType.MobilityTicket));
        Assert.Single(harness.Observer.Moved);
    }

    /// <summary>
    /// Regression: two Refreshes presenting one ticket from two new 5-tuples, both looked up before either moved the
    /// allocation, both moved it, and the first got a success for an allocation that ended up at the second. The
    /// table moves it only while the presented ticket is still the allocation's.
    /// </summary>
    [Fact]
    public void Of_two_moves_presenting_one_ticket_at_once_only_the_first_moves_the_allocation()
    {
        var harness = new TurnHarness(MobileOptions);
        string ticket = harness.Client.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        Allocation allocation = Single(harness.Engine.Allocations);
        TurnHarness.SimulatedClient first = harness.NewClient("198.51.100.7", 40010);
        TurnHarness.SimulatedClient second = harness.NewClient("198.51.100.7", 40011);

        Assert.True(harness.Engine.Allocations.Move(allocation, first.FiveTuple, first.Connection, ticket, "next-ticket-1"));
        Assert.False(harness.Engine.Allocations.Move(allocation, second.FiveTuple, second.Connection, ticket, "next-ticket-2"));

        Assert.Equal(first.FiveTuple, allocation.FiveTuple);
        Assert.Single(harness.Observer.Moved);
    }

    [Fact]
    public void A_ticket_on_its_own_address_that_is_not_the_allocations_gets_400()
    {
        var harness = new TurnHarness(MobileOptions);
        harness.Client.Allocate(EmptyTicket);

        Assert.Equal(StunErrorCodes.BadRequest, RefreshWithTicket(harness.Client, "AAAAAAAAAAAAAAAAAAAAAAAA").ErrorCode);
    }

    [Fact]
    public void An_unknown_ticket_from_a_new_address_gets_437()
    {
        var harness = new TurnHarness(MobileOptions);
        harness.Client.Allocate(EmptyTicket);

        Response response = RefreshWithTicket(harness.NewClient("198.51.100.80", 50000), "AAAAAAAAAAAAAAAAAAAAAAAA");

        Assert.Equal(StunErrorCodes.AllocationMismatch, response.ErrorCode);
        Assert.Equal(harness.Client.FiveTuple, harness.Observer.Created.Single().FiveTuple);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(33)]
    public void A_ticket_of_a_wrong_length_gets_400(int length)
    {
        var harness = new TurnHarness(MobileOptions);
        harness.Client.Allocate(EmptyTicket);

        Response response = RefreshWithTicket(harness.NewClient("198.51.100.80", 50000), new string('A', length));

        Assert.Equal(StunErrorCodes.BadRequest, response.ErrorCode);
    }

    [Fact]
    public void Another_users_refresh_with_a_stolen_ticket_gets_441_and_moves_nothing()
    {
        var harness = new TurnHarness(MobileOptions);
        string ticket = harness.Client.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        TurnHarness.SimulatedClient thief = harness.NewClient("198.51.100.66", 50000, "bob", "builder");

        Response response = RefreshWithTicket(thief, ticket);

        Assert.Equal(StunErrorCodes.WrongCredentials, response.ErrorCode);
        Assert.Equal(harness.Client.FiveTuple, harness.Observer.Created.Single().FiveTuple);
        Assert.Empty(harness.Observer.Moved);
    }

    [Fact]
    public void A_ticket_cannot_move_an_allocation_to_another_transport()
    {
        var harness = new TurnHarness(MobileOptions);
        string ticket = harness.Client.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);

        Response response = RefreshWithTicket(harness.NewClient("198.51.100.80", 50000, protocol: TransportProtocol.Tcp), ticket);

        Assert.Equal(StunErrorCodes.AllocationMismatch, response.ErrorCode);
    }

    [Fact]
    public void Refresh_with_a_ticket_gets_405_when_mobility_is_off()
    {
        var harness = new TurnHarness();
        harness.Client.Allocate();

        Assert.Equal(StunErrorCodes.MobilityForbidden, RefreshWithTicket(harness.Client, "AAAAAAAAAAAAAAAAAAAAAAAA").ErrorCode);
    }

    [Fact]
    public void A_ticket_dies_with_its_allocation()
    {
        var harness = new TurnHarness(MobileOptions);
        string ticket = harness.Client.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        Assert.True(harness.Client.Refresh(0).IsSuccess);

        Response response = RefreshWithTicket(harness.NewClient("198.51.100.80", 50000), ticket);

        Assert.Equal(StunErrorCodes.AllocationMismatch, response.ErrorCode);
    }

    [Fact]
    public void A_mobile_allocation_outlives_its_closed_connection_and_moves_to_a_new_one()
    {
        var harness = new TurnHarness(MobileOptions);
        TurnHarness.SimulatedClient first = harness.NewClient("198.51.100.7", 40001, protocol: TransportProtocol.Tls);
        string ticket = first.Allocate(EmptyTicket).Text(StunAttributeType.MobilityTicket);
        Allocation allocation = harness.Observer.Created.Single();

        harness.Engine.Allocations.ConnectionClosed(first.FiveTuple, first.Connection);
        Assert.False(allocation.IsReleased);

        TurnHarness.SimulatedClient second = harness.NewClient("198.51.100.7", 40002, protocol: TransportProtocol.Tls);
        Assert.True(RefreshWithTicket(second, ticket).IsSuccess);
        Assert.Same(second.Connection, allocation.Client);

        // Once moved, the old connection's close concerns it no more.
        harness.Engine.Allocations.ConnectionClosed(first.FiveTuple, first.Connection);
        Assert.False(allocation.IsReleased);
    }

    [Fact]
    public void An_allocation_without_a_ticket_ends_with_its_connection()
    {
        var harness = new TurnHarness(MobileOptions);
        TurnHarness.SimulatedClient client = harness.NewClient("198.51.100.7", 40001, protocol: TransportProtocol.Tcp);
        Assert.True(client.Allocate().IsSuccess);

        harness.Engine.Allocations.ConnectionClosed(client.FiveTuple, client.Connection);

        Assert.Equal(AllocationEndReason.ConnectionClosed, harness.Observer.Ended.Single().Reason);
    }

    private static void EmptyTicket(StunMessageWriterBox w) => w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.MobilityTicket, []));

    private static Action<StunMessageWriterBox> TicketAttributes(string ticket) => w =>
    {
        w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, 600));
        w.Add((ref StunMessageWriter x) => x.WriteText(StunAttributeType.MobilityTicket, ticket));
    };

    private static Response RefreshWithTicket(TurnHarness.SimulatedClient client, string ticket) => client.Request(StunMethod.Refresh, TicketAttributes(ticket));

    private static uint Lifetime(Response response) => response.Message.TryGetUInt32(StunAttributeType.Lifetime, out uint value) ? value : 0;

    private static Allocation Single(AllocationTable table) => Assert.Single(table.All);

    private static bool Deliver(Allocation allocation, byte[] payload, TransportAddress peer)
    {
        var buffer = new byte[Allocation.PeerDataHeadroom + payload.Length + Allocation.PeerDataTailroom];
        payload.CopyTo(buffer, Allocation.PeerDataHeadroom);
        return allocation.ForwardToClient(buffer, Allocation.PeerDataHeadroom, payload.Length, peer);
    }

    /// <summary>Where <paramref name="type"/> starts in the response, for checking attribute order.</summary>
    private static int IndexOf(Response response, StunAttributeType type)
    {
        int offset = StunConstants.HeaderLength;
        byte[] bytes = response.Bytes;
        while (offset + 4 <= bytes.Length)
        {
            int attributeType = (bytes[offset] << 8) | bytes[offset + 1];
            int length = (bytes[offset + 2] << 8) | bytes[offset + 3];
            if (attributeType == (int)type)
            {
                return offset;
            }

            offset += 4 + ((length + 3) & ~3);
        }

        return -1;
    }
}
