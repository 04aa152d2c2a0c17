using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TurnServer.Stun;

/// <summary>
/// A transport address (RFC 8489 section 3: an IP address and a port) as a 24-byte value, so that it can key a
/// dictionary and be compared without allocation. IPv4-mapped IPv6 addresses are stored as IPv4, so one host has one
/// value whichever socket saw it. The address is kept in network byte order inside two integers: for IPv4 the low
/// 32 bits of <c>_low</c>; for IPv6 <c>_high</c> holds bytes 0..7 and <c>_low</c> bytes 8..15.
/// </summary>
public readonly struct TransportAddress : IEquatable<TransportAddress>
{
    // Offsets into the native sockaddr held by System.Net.SocketAddress. The port and address sit at the same
    // offsets on every platform .NET supports; the family is read through SocketAddress.Family.
    private const int SockaddrPortOffset = 2;
    private const int SockaddrIPv4Offset = 4;
    private const int SockaddrIPv6FlowInfoOffset = 4;
    private const int SockaddrIPv6Offset = 8;
    private const int SockaddrIPv6ScopeOffset = 24;

    private readonly ulong _high;
    private readonly ulong _low;
    private readonly ushort _port;
    private readonly byte _family; // 4 or 6; 0 for default(TransportAddress)

    private TransportAddress(byte family, ulong high, ulong low, ushort port)
    {
        _family = family;
        _high = high;
        _low = low;
        _port = port;
    }

    /// <summary>Creates an address from an <see cref="IPAddress"/> and a port (0..65535).</summary>
    /// <exception cref="ArgumentException">The address is neither IPv4 nor IPv6.</exception>
    public TransportAddress(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out int written) || (written != 4 && written != 16))
        {
            throw new ArgumentException("Only IPv4 and IPv6 addresses are transport addresses.", nameof(address));
        }

        this = FromBytes(bytes[..written], (ushort)port);
    }

    /// <summary>4 for IPv4, 6 for IPv6, 0 for the default value.</summary>
    public int Version => _family;

    /// <summary>True for an IPv4 address.</summary>
    public bool IsIPv4 => _family == 4;

    /// <summary>True for an IPv6 address.</summary>
    public bool IsIPv6 => _family == 6;

    /// <summary>The address family, <see cref="AddressFamily.Unspecified"/> for the default value.</summary>
    public AddressFamily AddressFamily => _family switch
    {
        4 => AddressFamily.InterNetwork,
        6 => AddressFamily.InterNetworkV6,
        _ => AddressFamily.Unspecified,
    };

    /// <summary>The port, host order.</summary>
    public ushort Port => _port;

    /// <summary>Length in bytes of the raw address: 4, 16, or 0 for the default value.</summary>
    public int AddressLength => _family switch { 4 => 4, 6 => 16, _ => 0 };

    /// <summary>Builds an address from 4 or 16 network-order bytes and a port; IPv4-mapped IPv6 becomes IPv4.</summary>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not 4 or 16 bytes long.</exception>
    public static TransportAddress FromBytes(ReadOnlySpan<byte> address, ushort port)
    {
        if (address.Length == 4)
        {
            return new TransportAddress(4, 0, BinaryPrimitives.ReadUInt32BigEndian(address), port);
        }

        if (address.Length == 16)
        {
            ulong high = BinaryPrimitives.ReadUInt64BigEndian(address);
            ulong low = BinaryPrimitives.ReadUInt64BigEndian(address[8..]);
            if (high == 0 && (low >> 32) == 0xFFFF)
            {
                return new TransportAddress(4, 0, low & 0xFFFFFFFF, port);
            }

            return new TransportAddress(6, high, low, port);
        }

        throw new ArgumentException("An IP address is 4 or 16 bytes long.", nameof(address));
    }

    /// <summary>Converts an <see cref="IPEndPoint"/>.</summary>
    public static TransportAddress FromEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return new TransportAddress(endPoint.Address, endPoint.Port);
    }

    /// <summary>
    /// Reads the family, port and address out of a <see cref="SocketAddress"/> filled by a receive call, without
    /// allocating. Returns false for families other than IPv4 and IPv6 or a buffer too short for its family.
    /// </summary>
    public static bool TryRead(SocketAddress socketAddress, out TransportAddress address)
    {
        ArgumentNullException.ThrowIfNull(socketAddress);
        ReadOnlySpan<byte> raw = socketAddress.Buffer.Span[..socketAddress.Size];
        switch (socketAddress.Family)
        {
            case AddressFamily.InterNetwork when raw.Length >= SockaddrIPv4Offset + 4:
                address = new TransportAddress(
                    4,
                    0,
                    BinaryPrimitives.ReadUInt32BigEndian(raw[SockaddrIPv4Offset..]),
                    BinaryPrimitives.ReadUInt16BigEndian(raw[SockaddrPortOffset..]));
                return true;
            case AddressFamily.InterNetworkV6 when raw.Length >= SockaddrIPv6Offset + 16:
                address = FromBytes(raw.Slice(SockaddrIPv6Offset, 16), BinaryPrimitives.ReadUInt16BigEndian(raw[SockaddrPortOffset..]));
                return true;
            default:
                address = default;
                return false;
        }
    }

    /// <summary>
    /// A new <see cref="SocketAddress"/> for sending to this address from a socket of
    /// <paramref name="socketFamily"/>; an IPv4 address is written IPv4-mapped when the socket is IPv6.
    /// Allocates; callers keep the result for reuse.
    /// </summary>
    public SocketAddress ToSocketAddress(AddressFamily socketFamily)
    {
        var socketAddress = new SocketAddress(socketFamily);
        WriteTo(socketAddress);
        return socketAddress;
    }

    /// <summary>A new <see cref="SocketAddress"/> of this address's own family.</summary>
    public SocketAddress ToSocketAddress() => ToSocketAddress(AddressFamily);

    /// <summary>Writes port and address into an existing <see cref="SocketAddress"/> of either family.</summary>
    /// <exception cref="ArgumentException">An IPv6 address into an IPv4 socket address.</exception>
    public void WriteTo(SocketAddress socketAddress)
    {
        ArgumentNullException.ThrowIfNull(socketAddress);
        Span<byte> raw = socketAddress.Buffer.Span;
        BinaryPrimitives.WriteUInt16BigEndian(raw[SockaddrPortOffset..], _port);
        if (socketAddress.Family == AddressFamily.InterNetwork)
        {
            if (_family != 4)
            {
                throw new ArgumentException("An IPv6 address does not fit an IPv4 socket address.", nameof(socketAddress));
            }

            BinaryPrimitives.WriteUInt32BigEndian(raw[SockaddrIPv4Offset..], (uint)_low);
            return;
        }

        raw.Slice(SockaddrIPv6FlowInfoOffset, 4).Clear();
        raw.Slice(SockaddrIPv6ScopeOffset, 4).Clear();
        Span<byte> ip = raw.Slice(SockaddrIPv6Offset, 16);
        if (_family == 4)
        {
            BinaryPrimitives.WriteUInt64BigEndian(ip, 0);
            BinaryPrimitives.WriteUInt64BigEndian(ip[8..], 0xFFFF_0000_0000UL | _low);
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(ip, _high);
            BinaryPrimitives.WriteUInt64BigEndian(ip[8..], _low);
        }
    }

    /// <summary>Writes the raw address (4 or 16 bytes, network order) and returns how many bytes were written.</summary>
    public int WriteAddressBytes(Span<byte> destination)
    {
        if (_family == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)_low);
            return 4;
        }

        if (_family == 6)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
            BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
            return 16;
        }

        return 0;
    }

    /// <summary>The same IP address with another port.</summary>
    public TransportAddress WithPort(ushort port) => new(_family, _high, _low, port);

    /// <summary>True when both have the same family and IP address, whatever the ports (permissions match on IP only, RFC 8656 section 9).</summary>
    public bool HasSameIPAddress(in TransportAddress other) => _family == other._family && _high == other._high && _low == other._low;

    /// <summary>A new <see cref="IPAddress"/> (allocates).</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        int length = WriteAddressBytes(bytes);
        return length == 0 ? IPAddress.None : new IPAddress(bytes[..length]);
    }

    /// <summary>A new <see cref="IPEndPoint"/> (allocates).</summary>
    public IPEndPoint ToEndPoint() => new(ToIPAddress(), _port);

    /// <inheritdoc />
    public bool Equals(TransportAddress other) =>
        _low == other._low && _high == other._high && _port == other._port && _family == other._family;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TransportAddress other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_high, _low, _port);

    /// <summary><c>192.0.2.1:3478</c> or <c>[2001:db8::1]:3478</c>.</summary>
    public override string ToString() => _family switch
    {
        4 => ToIPAddress() + ":" + _port,
        6 => "[" + ToIPAddress() + "]:" + _port,
        _ => "(none)",
    };

    /// <summary>Equal family, address and port.</summary>
    public static bool operator ==(TransportAddress left, TransportAddress right) => left.Equals(right);

    /// <summary>Different family, address or port.</summary>
    public static bool operator !=(TransportAddress left, TransportAddress right) => !left.Equals(right);
}
