using System.Net;
using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>
/// A channel binding (RFC 8656 section 12): a channel number 0x4000-0x7FFF tied to one peer transport address.
/// Holds the peer's <see cref="SocketAddress"/> in the relay socket's family, built once at bind time so that
/// relaying ChannelData never converts addresses.
/// </summary>
public sealed class ChannelBinding
{
    private long _expiresAt;

    /// <summary>
    /// Binds channel <paramref name="number"/> to <paramref name="peer"/> until <paramref name="expiresAt"/> (a
    /// <see cref="TimeProvider.GetTimestamp"/> value).
    /// </summary>
    internal ChannelBinding(ushort number, TransportAddress peer, SocketAddress peerSocketAddress, long expiresAt)
    {
        Number = number;
        PeerAddress = peer;
        PeerSocketAddress = peerSocketAddress;
        _expiresAt = expiresAt;
    }

    /// <summary>The channel number.</summary>
    public ushort Number { get; }

    /// <summary>The peer transport address.</summary>
    public TransportAddress PeerAddress { get; }

    /// <summary>The peer address to pass to the relay socket's send.</summary>
    public SocketAddress PeerSocketAddress { get; }

    /// <summary>Expiry as a <see cref="TimeProvider.GetTimestamp"/> value.</summary>
    public long ExpiresAt
    {
        get => Volatile.Read(ref _expiresAt);
        internal set => Volatile.Write(ref _expiresAt, value);
    }
}
