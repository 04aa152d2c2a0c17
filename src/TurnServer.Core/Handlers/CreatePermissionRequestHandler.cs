using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>CreatePermission (RFC 8656 section 10.2): installs or refreshes permissions for one or more peer IPs.</summary>
internal static class CreatePermissionRequestHandler
{
    /// <summary>
    /// Installs or refreshes a permission for the IP of every XOR-PEER-ADDRESS, after checking them all. Returns 0, or 437 (no allocation),
    /// 400 (none, or one invalid), 443 (no relay of a peer's family), 403 (a peer forbidden) or 508 (more than
    /// <see cref="Allocation.MaxPermissions"/> would be held).
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request)
    {
        Allocation? allocation = state.Allocation;
        if (allocation is null)
        {
            return StunErrorCodes.AllocationMismatch;
        }

        // "The CreatePermission request MUST contain at least one XOR-PEER-ADDRESS attribute and MAY contain multiple
        // such attributes. If no such attribute exists, or if any of these attributes are invalid, then a 400 (Bad
        // Request) error is returned." All are checked before any is installed, so a refused request changes nothing.
        int count = 0;
        int added = 0;
        long now = ctx.Now;
        foreach (StunAttribute attribute in request.GetAttributes())
        {
            if (attribute.Type != (ushort)StunAttributeType.XorPeerAddress)
            {
                continue;
            }

            if (!StunAddressCodec.TryDecode(attribute.Value, request.Header, out TransportAddress peer))
            {
                return StunErrorCodes.BadRequest;
            }

            int error = PeerChecks.Check(ctx, allocation, peer);
            if (error != 0)
            {
                return error;
            }

            count++;
            added += allocation.HasPermission(peer, now) ? 0 : 1;
        }

        if (count == 0)
        {
            return StunErrorCodes.BadRequest;
        }

        // Section 10.2 leaves limits to the server; a request that would pass Allocation.MaxPermissions is refused
        // whole with 508 (Insufficient Capacity), as RFC 8656 answers capacity limits elsewhere.
        if (!allocation.HasRoomForPermissions(added))
        {
            return StunErrorCodes.InsufficientCapacity;
        }

        // "If the request is valid, then the server installs or refreshes a permission for the IP address contained
        // in each XOR-PEER-ADDRESS attribute ... The port portion of each attribute is ignored".
        long expiresAt = now + ctx.SecondsToTicks(ctx.Options.PermissionLifetimeSeconds);
        foreach (StunAttribute attribute in request.GetAttributes())
        {
            if (attribute.Type == (ushort)StunAttributeType.XorPeerAddress && StunAddressCodec.TryDecode(attribute.Value, request.Header, out TransportAddress peer))
            {
                allocation.InstallPermission(peer, expiresAt);
            }
        }

        return 0;
    }
}
