using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>
/// Binding (RFC 8489 section 6.3): tells the client the transport address the server saw it from; where RFC 5780 is
/// served, also where the answer came from and where to test next, and from where the client asked it to come.
/// </summary>
internal static class BindingRequestHandler
{
    /// <summary>Whether RFC 5780 applies to a Binding request on <paramref name="fiveTuple"/>.</summary>
    public static bool UsesNatDiscovery(TurnContext ctx, in FiveTuple fiveTuple) =>
        ctx.NatDiscovery?.Serves(fiveTuple.ServerAddress, fiveTuple.Protocol) == true;

    /// <summary>
    /// Writes XOR-MAPPED-ADDRESS, the source transport address of the request, and with RFC 5780 RESPONSE-ORIGIN and
    /// OTHER-ADDRESS, leaving in <see cref="RequestState.ResponseOrigin"/> the address a CHANGE-REQUEST moved the
    /// answer to; always returns 0.
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request, ref StunMessageWriter response)
    {
        // RFC 8489 section 6.3.1.1: "the server ... MUST add an XOR-MAPPED-ADDRESS attribute ... the source
        // transport address of the request message".
        response.WriteXorAddress(StunAttributeType.XorMappedAddress, state.FiveTuple.ClientAddress);
        if (!UsesNatDiscovery(ctx, state.FiveTuple))
        {
            return 0;
        }

        // RFC 5780 section 6.1: the response carries RESPONSE-ORIGIN and OTHER-ADDRESS, and is sent from the address
        // CHANGE-REQUEST selects (flags in the value's last byte; a malformed value changes nothing).
        NatBehaviorDiscovery discovery = ctx.NatDiscovery!;
        TransportAddress local = state.FiveTuple.ServerAddress;
        uint flags = request.TryGetUInt32(StunAttributeType.ChangeRequest, out uint value) ? value : 0;
        TransportAddress origin = discovery.Origin(local, flags);
        response.WriteAddress(StunAttributeType.ResponseOrigin, discovery.Advertise(origin));
        response.WriteAddress(StunAttributeType.OtherAddress, discovery.Advertise(discovery.OtherAddress(local)));
        state.ResponseOrigin = origin;
        return 0;
    }
}
