using System.Buffers.Binary;

namespace TurnServer.Stun;

/// <summary>
/// FINGERPRINT (RFC 8489 section 14.7): CRC-32 (ISO HDLC / IEEE 802.3, as in zlib) of the message up to the
/// attribute, XORed with 0x5354554E. The header's length field covers the FINGERPRINT attribute itself.
/// </summary>
public static class Fingerprint
{
    /// <summary>The FINGERPRINT value for <paramref name="messagePrefix"/> (header length field already set).</summary>
    public static uint Compute(ReadOnlySpan<byte> messagePrefix) => Crc32.Compute(messagePrefix) ^ StunConstants.FingerprintXor;

    /// <summary>
    /// True when the FINGERPRINT attribute at <paramref name="attributeOffset"/> matches. FINGERPRINT is the last
    /// attribute, so the length field already covers it and the CRC runs over the bytes as received.
    /// </summary>
    internal static bool IsValid(ReadOnlySpan<byte> message, int attributeOffset) =>
        BinaryPrimitives.ReadUInt32BigEndian(message[(attributeOffset + StunConstants.AttributeHeaderLength)..]) == Compute(message[..attributeOffset]);
}

/// <summary>CRC-32 with the reflected polynomial 0xEDB88320, slice-by-8.</summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="data"/> (initial value and final XOR 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint[] t = Table;
        uint crc = 0xFFFFFFFF;
        while (data.Length >= 8)
        {
            uint one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[(7 * 256) + (one & 0xFF)] ^ t[(6 * 256) + ((one >> 8) & 0xFF)] ^ t[(5 * 256) + ((one >> 16) & 0xFF)] ^ t[(4 * 256) + (one >> 24)]
                ^ t[(3 * 256) + (two & 0xFF)] ^ t[(2 * 256) + ((two >> 8) & 0xFF)] ^ t[256 + ((two >> 16) & 0xFF)] ^ t[two >> 24];
            data = data[8..];
        }

        foreach (byte b in data)
        {
            crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        for (int slice = 1; slice < 8; slice++)
        {
            for (int i = 0; i < 256; i++)
            {
                uint previous = table[((slice - 1) * 256) + i];
                table[(slice * 256) + i] = (previous >> 8) ^ table[previous & 0xFF];
            }
        }

        return table;
    }
}
