using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>
/// RFC 8016 mobility: the MOBILITY-TICKET an allocation gets at Allocate, and the Refresh that brings it to a new
/// 5-tuple. A ticket is 18 random bytes in base64url (24 ASCII characters): a key the server looks up, unguessable,
/// so it needs no encryption; the Refresh that uses it must still authenticate as the allocation's user.
/// </summary>
internal static class Mobility
{
    /// <summary>
    /// The longest ticket accepted, in bytes: coTURN's <c>turnutils_uclient -M</c> keeps tickets of up to 32 bytes, as
    /// a C string, so tickets are printable and never contain a zero byte.
    /// </summary>
    public const int MaxTicketBytes = 32;

    private const int TicketRandomBytes = 18;

    /// <summary>A new ticket: 24 characters of base64url over fresh random bytes.</summary>
    public static string NewTicket()
    {
        Span<byte> random = stackalloc byte[TicketRandomBytes];
        RandomNumberGenerator.Fill(random);
        return Base64Url.EncodeToString(random);
    }

    /// <summary>
    /// Allocate step for RFC 8016 section 3.1: 0 when the request has no MOBILITY-TICKET or may have one (then
    /// <paramref name="wanted"/> is true), 405 without <c>mobility</c> or for an RFC 6062 TCP allocation (whose data
    /// connections belong to one control connection), 400 for a non-empty ticket.
    /// </summary>
    public static int CheckAllocate(TurnContext ctx, in StunMessageReader request, bool tcpRelay, out bool wanted)
    {
        wanted = request.TryGetAttribute(StunAttributeType.MobilityTicket, out ReadOnlySpan<byte> ticket);
        if (!wanted)
        {
            return 0;
        }

        if (!ctx.Options.Mobility || tcpRelay)
        {
            return StunErrorCodes.MobilityForbidden;
        }

        return ticket.IsEmpty ? 0 : StunErrorCodes.BadRequest;
    }

    /// <summary>
    /// Refresh steps for RFC 8016 section 3.2. With no MOBILITY-TICKET: 0, and <paramref name="allocation"/> stays the
    /// 5-tuple's own. With one: 405 without <c>mobility</c>; 400 for a ticket of 0 or more than
    /// <see cref="MaxTicketBytes"/> bytes, or, on the allocation's own 5-tuple, one that is neither its ticket nor the
    /// one it had before its last move (a retransmission of the Refresh that moved it). From a 5-tuple with no
    /// allocation it finds the ticket's allocation into <paramref name="allocation"/> and the ticket into
    /// <paramref name="movingTicket"/> (null when there is no move), or answers 437 (no such live allocation, or one on
    /// another transport) or 441 (another user's).
    /// </summary>
    public static int ResolveRefresh(TurnContext ctx, ref RequestState state, in StunMessageReader request, ref Allocation? allocation, out bool hasTicket, out string? movingTicket)
    {
        movingTicket = null;
        hasTicket = request.TryGetAttribute(StunAttributeType.MobilityTicket, out ReadOnlySpan<byte> ticket);
        if (!hasTicket)
        {
            return allocation is null ? StunErrorCodes.AllocationMismatch : 0;
        }

        if (!ctx.Options.Mobility)
        {
            return StunErrorCodes.MobilityForbidden;
        }

        if (ticket.IsEmpty || ticket.Length > MaxTicketBytes)
        {
            return StunErrorCodes.BadRequest;
        }

        // Tickets are ASCII; anything else matches none. Refreshes with a ticket are rare, so the string is affordable.
        string text = Encoding.Latin1.GetString(ticket);
        if (allocation is not null)
        {
            return text == allocation.MobilityTicket || text == allocation.PreviousMobilityTicket ? 0 : StunErrorCodes.BadRequest;
        }

        if (!ctx.Allocations.TryGetByMobilityTicket(text, out Allocation found) || ctx.Now >= found.ExpiresAt
            || found.FiveTuple.Protocol != state.FiveTuple.Protocol)
        {
            return StunErrorCodes.AllocationMismatch;
        }

        // The ticket only names the allocation; the request must come from its user (RFC 8656 section 4, 441).
        if (ctx.Authenticator is not null && !found.Admits(state.Auth))
        {
            ctx.Counters.AuthFailed(Diagnostics.AuthFailureReason.WrongCredentials);
            return StunErrorCodes.WrongCredentials;
        }

        allocation = found;
        movingTicket = text;
        return 0;
    }
}
