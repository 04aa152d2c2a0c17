using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Handlers;

/// <summary>Send indication (RFC 8656 section 11.2): relays the DATA to the peer. Indications get no answer, so every failure is a counted drop.</summary>
internal static class SendIndicationHandler
{
    /// <summary>
    /// Sends the DATA of a Send indication to its XOR-PEER-ADDRESS from the allocation's relay of that family; no allocation, a missing
    /// attribute, no permission or a failed send is a counted drop. <paramref name="scratch"/> supplies the destination SocketAddress.
    /// </summary>
    public static void Handle(TurnContext ctx, in StunMessageReader indication, in FiveTuple fiveTuple, SendScratch scratch)
    {
        if (!ctx.Allocations.TryGet(fiveTuple, out Allocation allocation))
        {
            ctx.Counters.Drop(DropReason.NoAllocation);
            return;
        }

        allocation.ClientPacketsReceived++;
        allocation.ClientBytesReceived += indication.Bytes.Length;

        // "When the server receives a Send indication, it checks that the Send indication contains both an
        // XOR-PEER-ADDRESS attribute and a DATA attribute. If one of these attributes is missing or invalid, then the
        // message is discarded."
        // RFC 8489 section 6.3.2: "If the indication contains unknown comprehension-required attributes, the
        // indication is discarded and processing ceases." Port 0 is no destination: invalid.
        if (!indication.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress peer)
            || peer.Port == 0
            || !indication.TryGetAttribute(StunAttributeType.Data, out ReadOnlySpan<byte> data)
            || indication.GetUnknownComprehensionRequired(stackalloc ushort[1]) > 0)
        {
            ctx.Counters.Drop(DropReason.SendIndicationMalformed);
            return;
        }

        // "the server ... checks that the peer address ... has a permission ... If not, the message is discarded."
        long now = ctx.Now;
        RelayEndpoint? relay = allocation.GetRelay(peer.AddressFamily);
        if (relay is null || now >= allocation.ExpiresAt || !allocation.HasPermission(peer, now))
        {
            ctx.Counters.Drop(DropReason.NoPermission);
            return;
        }

        if (allocation.BandwidthLimit > 0 && !allocation.AdmitFromClient(indication.Bytes.Length, now))
        {
            ctx.Counters.Drop(DropReason.BandwidthLimit);
            return;
        }

        SocketAddress destination = scratch.For(relay.Family);
        peer.WriteTo(destination);
        if (relay.SendTo(data, destination))
        {
            allocation.PeerPacketsSent++;
            allocation.PeerBytesSent += data.Length;
        }
        else
        {
            ctx.Counters.Drop(DropReason.SendFailed);
        }
    }
}
