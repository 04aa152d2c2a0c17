using System.Net;
using System.Net.Sockets;
using TurnServer.Stun;

namespace TurnServer.Core.Peers;

/// <summary>
/// Which peer addresses a client may install permissions or channels for (RFC 8656 section 21.3 asks servers to
/// restrict peers). Order of checks: the unspecified address is always refused; an address in an
/// <c>allowed-peer-ip</c> range is allowed; one in a <c>denied-peer-ip</c> range is refused; loopback is refused
/// unless <c>allow-loopback-peers</c>; multicast and broadcast are refused unless explicitly allowed.
/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry, so they cannot bypass a rule.
/// </summary>
public sealed class PeerAddressPolicy
{
    private static readonly IPAddressRange LoopbackV4 = Range("127.0.0.0/8");
    private static readonly IPAddressRange LoopbackV6 = Range("::1");
    private static readonly IPAddressRange MulticastV4 = Range("224.0.0.0-255.255.255.255");
    private static readonly IPAddressRange MulticastV6 = Range("ff00::/8");

    private readonly IPAddressRange[] _allowed;
    private readonly IPAddressRange[] _denied;
    private readonly bool _allowLoopback;
    private readonly bool _denyMulticast;

    /// <summary>Creates a policy.</summary>
    /// <param name="allowLoopback">coTURN's <c>allow-loopback-peers</c>.</param>
    /// <param name="denyMulticast">Refuse 224.0.0.0 and above and ff00::/8 (coTURN's <c>no-multicast-peers</c>; on by default here).</param>
    /// <param name="allowed">coTURN's <c>allowed-peer-ip</c> ranges; they win over every deny rule.</param>
    /// <param name="denied">coTURN's <c>denied-peer-ip</c> ranges.</param>
    public PeerAddressPolicy(bool allowLoopback, bool denyMulticast, IEnumerable<IPAddressRange> allowed, IEnumerable<IPAddressRange> denied)
    {
        _allowLoopback = allowLoopback;
        _denyMulticast = denyMulticast;
        _allowed = [.. allowed];
        _denied = [.. denied];
    }

    /// <summary>True when a client may talk to <paramref name="peer"/> (its port is not considered).</summary>
    public bool IsAllowed(in TransportAddress peer)
    {
        Span<byte> bytes = stackalloc byte[16];
        int length = peer.WriteAddressBytes(bytes);
        if (length == 0 || bytes[..length].IndexOfAnyExcept((byte)0) < 0)
        {
            return false;
        }

        AddressFamily family = peer.AddressFamily;
        ReadOnlySpan<byte> address = bytes[..length];
        foreach (IPAddressRange range in _allowed)
        {
            if (range.Contains(family, address))
            {
                return true;
            }
        }

        foreach (IPAddressRange range in _denied)
        {
            if (range.Contains(family, address))
            {
                return false;
            }
        }

        if (!_allowLoopback && (LoopbackV4.Contains(family, address) || LoopbackV6.Contains(family, address)))
        {
            return false;
        }

        return !(_denyMulticast && (MulticastV4.Contains(family, address) || MulticastV6.Contains(family, address)));
    }

    /// <summary>Convenience overload for tests and configuration checks.</summary>
    public bool IsAllowed(IPAddress peer) => IsAllowed(new TransportAddress(peer, 0));

    private static IPAddressRange Range(string text) =>
        IPAddressRange.TryParse(text, out IPAddressRange range) ? range : throw new InvalidOperationException(text);
}
