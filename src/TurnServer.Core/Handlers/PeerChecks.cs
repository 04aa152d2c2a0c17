using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>The checks CreatePermission and ChannelBind apply to an XOR-PEER-ADDRESS.</summary>
internal static class PeerChecks
{
    /// <summary>0, or 443 when the allocation has no relay of the peer's family (RFC 8656 sections 10.2 and 12.2), or 403 when policy forbids the peer.</summary>
    public static int Check(TurnContext ctx, Allocation allocation, in TransportAddress peer)
    {
        if (allocation.GetRelay(peer.AddressFamily) is null)
        {
            return StunErrorCodes.PeerAddressFamilyMismatch;
        }

        // RFC 8656 section 10.2: "If the server ... determines that the peer address ... is forbidden, the server
        // rejects the request with a 403 (Forbidden) error."
        return ctx.PeerPolicy.IsAllowed(peer) ? 0 : StunErrorCodes.Forbidden;
    }
}
