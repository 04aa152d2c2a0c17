using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>RFC 5780 NAT behaviour discovery in Binding responses: RESPONSE-ORIGIN, OTHER-ADDRESS, CHANGE-REQUEST.</summary>
public class NatBehaviorDiscoveryTests
{
    private static readonly IPAddress Primary = TurnHarness.ServerAddress.ToIPAddress();
    private static readonly IPAddress Secondary = IPAddress.Parse("192.0.2.2");

    [Fact]
    public void A_binding_response_names_its_origin_and_the_other_address()
    {
        TurnHarness harness = WithDiscovery(out _);

        Response response = harness.Client.Request(StunMethod.Binding, sign: false)!;

        Assert.True(response.IsSuccess);
        Assert.Equal(harness.Client.FiveTuple.ClientAddress, response.XorAddress(StunAttributeType.XorMappedAddress));
        Assert.Equal(TurnHarness.ServerAddress, PlainAddress(response, StunAttributeType.ResponseOrigin));
        Assert.Equal(new TransportAddress(Secondary, 3479), PlainAddress(response, StunAttributeType.OtherAddress));
    }

    [Theory]
    [InlineData(NatBehaviorDiscovery.ChangeIp | NatBehaviorDiscovery.ChangePort, "192.0.2.2", 3479)]
    [InlineData(NatBehaviorDiscovery.ChangeIp, "192.0.2.2", 3478)]
    [InlineData(NatBehaviorDiscovery.ChangePort, "192.0.2.1", 3479)]
    public void A_change_request_sends_the_answer_from_the_changed_address(uint flags, string ip, int port)
    {
        TurnHarness harness = WithDiscovery(out Dictionary<TransportAddress, RecordingClient> listeners);
        var origin = new TransportAddress(IPAddress.Parse(ip), port);

        Response? direct = harness.Client.Send(StunMethod.Binding, ChangeRequest(flags), TransactionId.NewRandom(), sign: false);

        Assert.Null(direct); // nothing leaves the socket the request came in on
        byte[] sent = Assert.Single(listeners[origin].Frames);
        Assert.All(listeners.Where(l => l.Key != origin), l => Assert.Empty(l.Value.Frames));
        var response = new Response(sent);
        Assert.True(response.IsSuccess);
        Assert.Equal(harness.Client.FiveTuple.ClientAddress, response.XorAddress(StunAttributeType.XorMappedAddress));
        Assert.Equal(origin, PlainAddress(response, StunAttributeType.ResponseOrigin));
        Assert.Equal(new TransportAddress(Secondary, 3479), PlainAddress(response, StunAttributeType.OtherAddress));
        Assert.Equal(1, harness.Engine.Counters.BindingResponses);
    }

    [Fact]
    public void A_change_request_with_no_flags_is_answered_from_where_it_arrived()
    {
        TurnHarness harness = WithDiscovery(out Dictionary<TransportAddress, RecordingClient> listeners);

        Response response = harness.Client.Send(StunMethod.Binding, ChangeRequest(0), TransactionId.NewRandom(), sign: false);

        Assert.True(response.IsSuccess);
        Assert.Equal(TurnHarness.ServerAddress, PlainAddress(response, StunAttributeType.ResponseOrigin));
        Assert.All(listeners.Values, l => Assert.Empty(l.Frames));
    }

    [Fact]
    public void Without_discovery_a_change_request_draws_420_naming_it()
    {
        var harness = new TurnHarness();

        Response response = harness.Client.Send(StunMethod.Binding, ChangeRequest(NatBehaviorDiscovery.ChangeIp), TransactionId.NewRandom(), sign: false);

        Assert.Equal(StunErrorCodes.UnknownAttribute, response.ErrorCode);
        Assert.Equal((ushort)StunAttributeType.ChangeRequest, UnknownAttributes(response).Single());
        Assert.False(response.Message.HasAttribute(StunAttributeType.OtherAddress));
    }

    [Fact]
    public void Over_tcp_a_binding_gets_no_discovery_and_a_change_request_draws_420()
    {
        TurnHarness harness = WithDiscovery(out _);
        TurnHarness.SimulatedClient tcp = harness.NewClient("198.51.100.8", 40001, protocol: TransportProtocol.Tcp);

        Response plain = tcp.Request(StunMethod.Binding, sign: false)!;
        Response changed = tcp.Send(StunMethod.Binding, ChangeRequest(NatBehaviorDiscovery.ChangePort), TransactionId.NewRandom(), sign: false);

        Assert.True(plain.IsSuccess);
        Assert.False(plain.Message.HasAttribute(StunAttributeType.ResponseOrigin));
        Assert.False(plain.Message.HasAttribute(StunAttributeType.OtherAddress));
        Assert.Equal(StunErrorCodes.UnknownAttribute, changed.ErrorCode);
    }

    [Fact]
    public void A_change_request_outside_a_binding_still_draws_420()
    {
        TurnHarness harness = WithDiscovery(out _);

        Response response = harness.Client.Send(
            StunMethod.Allocate,
            w =>
            {
                w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
                w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.ChangeRequest, NatBehaviorDiscovery.ChangeIp));
            },
            TransactionId.NewRandom(),
            sign: false);

        Assert.Equal(StunErrorCodes.UnknownAttribute, response.ErrorCode);
        Assert.Equal(0, harness.Engine.Allocations.Count);
    }

    [Fact]
    public void Addresses_pair_within_their_family_and_loopback_only_with_loopback()
    {
        var discovery = new NatBehaviorDiscovery(
            [IPAddress.Parse("203.0.113.1"), IPAddress.Loopback, IPAddress.Parse("2001:db8::1"), IPAddress.Parse("203.0.113.2"), IPAddress.Parse("127.0.0.2"), IPAddress.IPv6Loopback],
            3478,
            3479);

        Assert.Equal(
            ["127.0.0.1", "127.0.0.2", "203.0.113.1", "203.0.113.2"],
            discovery.Addresses.Select(a => a.ToString()).Order());
        Assert.Equal("203.0.113.2:3479", discovery.OtherAddress(new TransportAddress(IPAddress.Parse("203.0.113.1"), 3478)).ToString());
        Assert.Equal("127.0.0.1:3478", discovery.OtherAddress(new TransportAddress(IPAddress.Parse("127.0.0.2"), 3479)).ToString());
        Assert.False(discovery.Serves(new TransportAddress(IPAddress.Parse("2001:db8::1"), 3478), TransportProtocol.Udp));
        Assert.False(discovery.Serves(new TransportAddress(IPAddress.Parse("203.0.113.1"), 5349), TransportProtocol.Udp));
    }

    [Fact]
    public void Addresses_behind_a_nat_are_written_as_their_public_ones()
    {
        var external = new Dictionary<IPAddress, IPAddress> { [Primary] = IPAddress.Parse("198.18.0.1"), [Secondary] = IPAddress.Parse("198.18.0.2") };
        TurnHarness harness = WithDiscovery(out _, external);

        Response response = harness.Client.Request(StunMethod.Binding, sign: false)!;

        Assert.Equal("198.18.0.1:3478", PlainAddress(response, StunAttributeType.ResponseOrigin).ToString());
        Assert.Equal("198.18.0.2:3479", PlainAddress(response, StunAttributeType.OtherAddress).ToString());
    }

    private static TurnHarness WithDiscovery(out Dictionary<TransportAddress, RecordingClient> listeners, Dictionary<IPAddress, IPAddress>? external = null)
    {
        var harness = new TurnHarness(new TurnOptions { Realm = TurnHarness.Realm, RequireAuthentication = false });
        var discovery = new NatBehaviorDiscovery([Primary, Secondary], 3478, 3479, external);
        listeners = [];
        foreach (IPAddress ip in new[] { Primary, Secondary })
        {
            foreach (int port in new[] { 3478, 3479 })
            {
                var local = new TransportAddress(ip, port);
                listeners[local] = new RecordingClient(TransportProtocol.Udp);
                discovery.Attach(local, listeners[local]);
            }
        }

        harness.Engine.NatDiscovery = discovery;
        return harness;
    }

    private static Action<StunMessageWriterBox> ChangeRequest(uint flags) =>
        w => w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.ChangeRequest, flags));

    private static TransportAddress PlainAddress(Response response, StunAttributeType type) =>
        response.Message.TryGetAddress(type, out TransportAddress address) ? address : throw new Xunit.Sdk.XunitException($"no {type}");

    private static ushort[] UnknownAttributes(Response response)
    {
        Assert.True(response.Message.TryGetAttribute(StunAttributeType.UnknownAttributes, out ReadOnlySpan<byte> value));
        var types = new ushort[value.Length / 2];
        for (int i = 0; i < types.Length; i++)
        {
            types[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(value[(2 * i)..]);
        }

        return types;
    }
}
