using TurnServer.Core.Allocations;

namespace TurnServer.Core.Diagnostics;

/// <summary>
/// Traffic summed over allocations, in coTURN's terms: rcv/sent with the client (every message, control included,
/// at its full size), and rcv/sent with peers (relayed data).
/// </summary>
public readonly record struct TrafficTotals(
    long ClientPacketsReceived,
    long ClientBytesReceived,
    long ClientPacketsSent,
    long ClientBytesSent,
    long PeerPacketsReceived,
    long PeerBytesReceived,
    long PeerPacketsSent,
    long PeerBytesSent)
{
    /// <summary>The counters of one allocation now.</summary>
    public static TrafficTotals Of(Allocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        return new(
            Volatile.Read(ref allocation.ClientPacketsReceived),
            Volatile.Read(ref allocation.ClientBytesReceived),
            Volatile.Read(ref allocation.ClientPacketsSent) + Volatile.Read(ref allocation.ClientResponsesSent),
            Volatile.Read(ref allocation.ClientBytesSent) + Volatile.Read(ref allocation.ClientResponseBytesSent),
            Volatile.Read(ref allocation.PeerPacketsReceived),
            Volatile.Read(ref allocation.PeerBytesReceived),
            Volatile.Read(ref allocation.PeerPacketsSent),
            Volatile.Read(ref allocation.PeerBytesSent));
    }

    /// <summary>Field-wise sum.</summary>
    public static TrafficTotals operator +(TrafficTotals a, TrafficTotals b) => new(
        a.ClientPacketsReceived + b.ClientPacketsReceived,
        a.ClientBytesReceived + b.ClientBytesReceived,
        a.ClientPacketsSent + b.ClientPacketsSent,
        a.ClientBytesSent + b.ClientBytesSent,
        a.PeerPacketsReceived + b.PeerPacketsReceived,
        a.PeerBytesReceived + b.PeerBytesReceived,
        a.PeerPacketsSent + b.PeerPacketsSent,
        a.PeerBytesSent + b.PeerBytesSent);

    /// <summary>Field-wise difference: what <paramref name="a"/> counted since <paramref name="b"/>.</summary>
    public static TrafficTotals operator -(TrafficTotals a, TrafficTotals b) => new(
        a.ClientPacketsReceived - b.ClientPacketsReceived,
        a.ClientBytesReceived - b.ClientBytesReceived,
        a.ClientPacketsSent - b.ClientPacketsSent,
        a.ClientBytesSent - b.ClientBytesSent,
        a.PeerPacketsReceived - b.PeerPacketsReceived,
        a.PeerBytesReceived - b.PeerBytesReceived,
        a.PeerPacketsSent - b.PeerPacketsSent,
        a.PeerBytesSent - b.PeerBytesSent);

    /// <summary>Packets counted both ways with the client and with peers, as coTURN sums them to pace its traffic reports.</summary>
    public long Packets => ClientPacketsReceived + ClientPacketsSent + PeerPacketsReceived + PeerPacketsSent;
}
