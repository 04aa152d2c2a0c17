using System.Buffers.Binary;

namespace TurnServer.Stun;

/// <summary>
/// The address attribute layout shared by MAPPED-ADDRESS, ALTERNATE-SERVER and the XOR-*-ADDRESS attributes
/// (RFC 8489 sections 14.1 and 14.2): reserved byte, family (0x01 IPv4, 0x02 IPv6), port, address.
/// The XOR forms XOR the port with the cookie's top 16 bits and the address with the cookie (IPv4) or with the
/// cookie followed by the transaction ID (IPv6).
/// </summary>
public static class StunAddressCodec
{
    /// <summary>Family byte for IPv4.</summary>
    public const byte FamilyIPv4 = 0x01;

    /// <summary>Family byte for IPv6.</summary>
    public const byte FamilyIPv6 = 0x02;

    /// <summary>Value length in bytes for an IPv4 address: 8.</summary>
    public const int IPv4ValueLength = 8;

    /// <summary>Value length in bytes for an IPv6 address: 20.</summary>
    public const int IPv6ValueLength = 20;

    /// <summary>Value length in bytes needed for <paramref name="address"/>.</summary>
    public static int GetValueLength(in TransportAddress address) => address.IsIPv6 ? IPv6ValueLength : IPv4ValueLength;

    /// <summary>
    /// Decodes an address attribute value. <paramref name="header"/> is the message's 20-byte header when the
    /// attribute is an XOR form, empty otherwise. Returns false on a wrong length or unknown family.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> value, ReadOnlySpan<byte> header, out TransportAddress address)
    {
        address = default;
        if (value.Length < 4)
        {
            return false;
        }

        byte family = value[1];
        int addressLength = family switch { FamilyIPv4 => 4, FamilyIPv6 => 16, _ => 0 };
        if (addressLength == 0 || value.Length != 4 + addressLength)
        {
            return false;
        }

        ushort port = BinaryPrimitives.ReadUInt16BigEndian(value[2..]);
        Span<byte> ip = stackalloc byte[16];
        value.Slice(4, addressLength).CopyTo(ip);
        if (!header.IsEmpty)
        {
            port ^= (ushort)(StunConstants.MagicCookie >> 16);
            for (int i = 0; i < addressLength; i++)
            {
                ip[i] ^= header[4 + i]; // cookie (bytes 4..7) then transaction ID (bytes 8..19)
            }
        }

        address = TransportAddress.FromBytes(ip[..addressLength], port);
        return true;
    }

    /// <summary>
    /// Encodes <paramref name="address"/> into <paramref name="destination"/> (at least
    /// <see cref="GetValueLength"/> bytes) and returns the value length. <paramref name="header"/> as in
    /// <see cref="TryDecode"/>.
    /// </summary>
    public static int Encode(Span<byte> destination, in TransportAddress address, ReadOnlySpan<byte> header)
    {
        int addressLength = address.AddressLength;
        destination[0] = 0;
        destination[1] = addressLength == 16 ? FamilyIPv6 : FamilyIPv4;
        ushort port = address.Port;
        Span<byte> ip = destination.Slice(4, addressLength);
        address.WriteAddressBytes(ip);
        if (!header.IsEmpty)
        {
            port ^= (ushort)(StunConstants.MagicCookie >> 16);
            for (int i = 0; i < addressLength; i++)
            {
                ip[i] ^= header[4 + i];
            }
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], port);
        return 4 + addressLength;
    }
}
