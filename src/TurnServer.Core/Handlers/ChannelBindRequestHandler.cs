using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>ChannelBind (RFC 8656 section 12.2): binds a channel number to a peer transport address.</summary>
internal static class ChannelBindRequestHandler
{
    /// <summary>
    /// Binds or refreshes the channel and installs or refreshes the peer's permission. Returns 0, or 437 (no allocation),
    /// 400 (missing or invalid attributes, number or peer bound otherwise), 443 (no relay of the peer's family), 403 (peer forbidden)
    /// or 508 (<see cref="Allocation.MaxChannels"/> or <see cref="Allocation.MaxPermissions"/> reached).
    /// </summary>
    public static int Handle(TurnContext ctx, ref RequestState state, in StunMessageReader request)
    {
        Allocation? allocation = state.Allocation;
        if (allocation is null)
        {
            return StunErrorCodes.AllocationMismatch;
        }

        // "The request contains both a CHANNEL-NUMBER and an XOR-PEER-ADDRESS attribute" and "The channel number is in
        // the range 0x4000 through 0x4FFF (inclusive)" (0x7FFF accepted, see ChannelData) — otherwise 400.
        if (!request.TryGetChannelNumber(out ushort number) || !ChannelData.IsValidChannelNumber(number)
            || !request.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress peer)
            || peer.Port == 0)
        {
            return StunErrorCodes.BadRequest; // port 0 too: a channel must lead somewhere data can be sent
        }

        int error = PeerChecks.Check(ctx, allocation, peer);
        if (error != 0)
        {
            return error;
        }

        // "The channel number is not currently bound to a different transport address (same transport address is OK);
        // the transport address is not currently bound to a different channel number." Else 400.
        if (allocation.GetRelay(peer.AddressFamily) is not { } relay)
        {
            return StunErrorCodes.PeerAddressFamilyMismatch; // the sweeper deleted that family's relay since the check
        }

        long now = ctx.Now;
        return allocation.BindChannel(
            number,
            peer,
            peer.ToSocketAddress(relay.Family),
            now + ctx.SecondsToTicks(ctx.Options.ChannelLifetimeSeconds),
            now + ctx.SecondsToTicks(ctx.Options.PermissionLifetimeSeconds));
    }
}
