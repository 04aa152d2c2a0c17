using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>
/// Refresh (RFC 8656 section 8.2): extends or, with LIFETIME 0, deletes the allocation, or with REQUESTED-ADDRESS-FAMILY
/// only that family's relay of a dual allocation.
/// </summary>
internal static class RefreshRequestHandler
{
    /// <summary>
    /// Sets the allocation to expire after the desired lifetime, or deletes it for 0, and writes LIFETIME; with a
    /// MOBILITY-TICKET (RFC 8016) from a new 5-tuple, first moves the ticket's allocation here, and answers with the
    /// allocation's ticket. Returns 0, or 437 (no allocation), 400 (malformed REQUESTED-ADDRESS-FAMILY or ticket),
    /// 405 (mobility not offered), 441 (another user's ticket) or 443 (a family the allocation has no relay of).
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request, ref StunMessageWriter response)
    {
        Allocation? resolved = state.Allocation;
        int error = Mobility.ResolveRefresh(ctx, ref state, request, ref resolved, out bool hasTicket, out string? movingTicket);
        if (error != 0)
        {
            return error;
        }

        Allocation allocation = resolved!;

        // Section 8.2: "If the server receives a Refresh Request with a REQUESTED-ADDRESS-FAMILY attribute and the
        // attribute value does not match the address family of the allocation, the server MUST reply with a 443".
        AddressFamily? requestedFamily = null;
        if (request.HasAttribute(StunAttributeType.RequestedAddressFamily))
        {
            if (!request.TryGetLeadingByte(StunAttributeType.RequestedAddressFamily, out byte family))
            {
                return StunErrorCodes.BadRequest;
            }

            AddressFamily addressFamily = family == StunAddressCodec.FamilyIPv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
            if (family is not (StunAddressCodec.FamilyIPv4 or StunAddressCodec.FamilyIPv6) || allocation.GetRelay(addressFamily) is null)
            {
                return StunErrorCodes.PeerAddressFamilyMismatch;
            }

            requestedFamily = addressFamily;
        }

        bool move = movingTicket is not null;
        if (move && !ctx.Allocations.Move(allocation, state.FiveTuple, state.Connections.GetConnection(state.FiveTuple), movingTicket!, Mobility.NewTicket()))
        {
            return StunErrorCodes.AllocationMismatch; // deleted or moved meanwhile, or another Allocate took this 5-tuple
        }

        // A stream or DTLS client that reconnected from the same address and port presents its ticket on its own
        // 5-tuple, but through a new connection: the allocation follows it, or it would stay with the dead one (peer
        // data dropped, the new session closed for want of an allocation).
        if (!move && hasTicket && state.FiveTuple.Protocol != TransportProtocol.Udp)
        {
            ctx.Allocations.Reattach(allocation, state.Connections.GetConnection(state.FiveTuple));
        }

        if (move && state.Auth.ViaAccessToken)
        {
            allocation.Rekey(state.Auth.Username!, state.Auth.Key!, state.Auth.KeyExpiresAt);
        }

        // "If the 'desired lifetime' is zero, then the request succeeds and the allocation is deleted"; otherwise "the
        // request succeeds and the allocation's time-to-expiry is set to the 'desired lifetime'." Of a dual
        // allocation, a request that names a family refreshes or deletes that family's relay alone (section 8.1).
        uint lifetime = Lifetimes.Granted(request, ctx, state.Auth, zeroDeletes: true);
        if (!ctx.Allocations.Refresh(allocation, lifetime, ctx.Now + ctx.SecondsToTicks(lifetime), requestedFamily))
        {
            return StunErrorCodes.PeerAddressFamilyMismatch; // that family's relay expired since the check above
        }

        // "the server MUST include a LIFETIME attribute with the value of the desired lifetime" in the success response.
        response.WriteUInt32(StunAttributeType.Lifetime, lifetime);
        if (hasTicket && lifetime != 0)
        {
            // RFC 8016 section 3.2: the answer carries the ticket the client must use from now on.
            response.WriteText(StunAttributeType.MobilityTicket, allocation.MobilityTicket!);
        }

        return 0;
    }
}
