using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace TurnServer.Core.Peers;

/// <summary>
/// An inclusive range of IP addresses of one family, as coTURN's <c>allowed-peer-ip</c> and
/// <c>denied-peer-ip</c> options write it: a single address (<c>10.0.0.1</c>), a range
/// (<c>10.0.0.1-10.0.0.255</c>) or, as an extension, CIDR (<c>10.0.0.0/8</c>).
/// Bounds are kept as 128-bit big-endian integers so that a check is two comparisons.
/// </summary>
public readonly struct IPAddressRange : IEquatable<IPAddressRange>
{
    private readonly UInt128 _first;
    private readonly UInt128 _last;

    private IPAddressRange(AddressFamily family, UInt128 first, UInt128 last)
    {
        Family = family;
        _first = first;
        _last = last;
    }

    /// <summary>The address family of both bounds: <see cref="AddressFamily.InterNetwork"/> or <see cref="AddressFamily.InterNetworkV6"/>.</summary>
    public AddressFamily Family { get; }

    /// <summary>The lowest address in the range.</summary>
    public IPAddress First => ToAddress(Family, _first);

    /// <summary>The highest address in the range.</summary>
    public IPAddress Last => ToAddress(Family, _last);

    /// <summary>Creates the range <paramref name="first"/>..<paramref name="last"/>, both inclusive.</summary>
    /// <exception cref="ArgumentException">The families differ or <paramref name="first"/> is above <paramref name="last"/>.</exception>
    public static IPAddressRange Create(IPAddress first, IPAddress last)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(last);
        first = Normalize(first);
        last = Normalize(last);
        if (first.AddressFamily != last.AddressFamily)
        {
            throw new ArgumentException("Both ends of a range must be of one address family.", nameof(last));
        }

        UInt128 lo = ToInteger(first), hi = ToInteger(last);
        if (lo > hi)
        {
            throw new ArgumentException("The first address of a range must not be above the last.", nameof(last));
        }

        return new IPAddressRange(first.AddressFamily, lo, hi);
    }

    /// <summary>
    /// Parses <c>ip</c>, <c>ip-ip</c> or <c>ip/prefix</c>. Returns false, never throws, on any malformed text,
    /// mixed families, a reversed range or a prefix longer than the family allows.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out IPAddressRange range)
    {
        range = default;
        text = text.Trim();
        int dash = text.IndexOf('-');
        int slash = text.IndexOf('/');
        if (dash >= 0 && slash < 0)
        {
            if (!IPAddress.TryParse(text[..dash].Trim(), out IPAddress? a) || !IPAddress.TryParse(text[(dash + 1)..].Trim(), out IPAddress? b))
            {
                return false;
            }

            a = Normalize(a);
            b = Normalize(b);
            if (a.AddressFamily != b.AddressFamily || ToInteger(a) > ToInteger(b))
            {
                return false;
            }

            range = new IPAddressRange(a.AddressFamily, ToInteger(a), ToInteger(b));
            return true;
        }

        if (slash >= 0 && dash < 0)
        {
            if (!IPAddress.TryParse(text[..slash], out IPAddress? network) || !int.TryParse(text[(slash + 1)..], out int prefix))
            {
                return false;
            }

            network = Normalize(network);
            int bits = network.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            if (prefix < 0 || prefix > bits)
            {
                return false;
            }

            UInt128 hostMask = prefix == bits ? UInt128.Zero : (UInt128.One << (bits - prefix)) - 1;
            UInt128 value = ToInteger(network);
            range = new IPAddressRange(network.AddressFamily, value & ~hostMask, value | hostMask);
            return true;
        }

        if (dash < 0 && slash < 0 && IPAddress.TryParse(text, out IPAddress? single))
        {
            single = Normalize(single);
            UInt128 v = ToInteger(single);
            range = new IPAddressRange(single.AddressFamily, v, v);
            return true;
        }

        return false;
    }

    /// <summary>True when <paramref name="address"/> (IPv4-mapped IPv6 counts as IPv4) lies in the range.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        address = Normalize(address);
        if (address.AddressFamily != Family)
        {
            return false;
        }

        UInt128 v = ToInteger(address);
        return v >= _first && v <= _last;
    }

    /// <summary>
    /// True when the address given as raw network-order bytes (4 for IPv4, 16 for IPv6) lies in the range.
    /// Allocation-free; the caller normalises IPv4-mapped IPv6 first.
    /// </summary>
    public bool Contains(AddressFamily family, ReadOnlySpan<byte> addressBytes)
    {
        if (family != Family)
        {
            return false;
        }

        UInt128 v = family == AddressFamily.InterNetwork
            ? BinaryPrimitives.ReadUInt32BigEndian(addressBytes)
            : BinaryPrimitives.ReadUInt128BigEndian(addressBytes);
        return v >= _first && v <= _last;
    }

    /// <inheritdoc />
    public bool Equals(IPAddressRange other) => Family == other.Family && _first == other._first && _last == other._last;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is IPAddressRange other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Family, _first, _last);

    /// <summary>Formats as <c>first-last</c>, or the single address when both are equal.</summary>
    public override string ToString() => _first == _last ? First.ToString() : First + "-" + Last;

    /// <summary>Equality of family and both bounds.</summary>
    public static bool operator ==(IPAddressRange left, IPAddressRange right) => left.Equals(right);

    /// <summary>Inequality of family or either bound.</summary>
    public static bool operator !=(IPAddressRange left, IPAddressRange right) => !left.Equals(right);

    [return: NotNull]
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static UInt128 ToInteger(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int written);
        return written == 4
            ? BinaryPrimitives.ReadUInt32BigEndian(bytes)
            : BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    private static IPAddress ToAddress(AddressFamily family, UInt128 value)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (family == AddressFamily.InterNetwork)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)value);
            return new IPAddress(bytes[..4]);
        }

        BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
