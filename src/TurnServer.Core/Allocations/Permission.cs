using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>
/// A permission (RFC 8656 section 9): the peer IP address (port ignored) that may send to and receive from the
/// relayed address, until <see cref="ExpiresAt"/>.
/// </summary>
public sealed class Permission
{
    private long _expiresAt;

    /// <summary>
    /// A permission for the IP of <paramref name="peer"/> (its port dropped) until <paramref name="expiresAt"/> (a
    /// <see cref="TimeProvider.GetTimestamp"/> value).
    /// </summary>
    internal Permission(TransportAddress peer, long expiresAt)
    {
        PeerAddress = peer.WithPort(0);
        _expiresAt = expiresAt;
    }

    /// <summary>The peer's IP address, with port 0.</summary>
    public TransportAddress PeerAddress { get; }

    /// <summary>Expiry as a <see cref="TimeProvider.GetTimestamp"/> value.</summary>
    public long ExpiresAt
    {
        get => Volatile.Read(ref _expiresAt);
        internal set => Volatile.Write(ref _expiresAt, value);
    }
}
