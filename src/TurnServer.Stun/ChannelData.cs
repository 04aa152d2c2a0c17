using System.Buffers.Binary;

namespace TurnServer.Stun;

/// <summary>
/// The ChannelData message (RFC 8656 section 12.4): a 2-byte channel number, a 2-byte payload length, the payload,
/// and over TCP/TLS padding to a multiple of 4 (section 12.5). Channel numbers 0x4000-0x7FFF are accepted: RFC 8656
/// narrowed the range to 0x4FFF, but RFC 5766 clients still pick numbers up to 0x7FFF.
/// </summary>
public static class ChannelData
{
    /// <summary>Header length in bytes.</summary>
    public const int HeaderLength = 4;

    /// <summary>Lowest channel number, 0x4000.</summary>
    public const ushort MinChannelNumber = 0x4000;

    /// <summary>Highest channel number accepted, 0x7FFF (RFC 5766 section 11; RFC 8656 section 12 says 0x4FFF).</summary>
    public const ushort MaxChannelNumber = 0x7FFF;

    /// <summary>True for 0x4000..0x7FFF.</summary>
    public static bool IsValidChannelNumber(ushort channelNumber) => channelNumber is >= MinChannelNumber and <= MaxChannelNumber;

    /// <summary>
    /// Parses a ChannelData datagram: false when shorter than the header, the number is out of range, or the length
    /// field exceeds the bytes present. Trailing bytes beyond the length (padding) are allowed.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out ushort channelNumber, out int payloadLength)
    {
        channelNumber = 0;
        payloadLength = 0;
        if (datagram.Length < HeaderLength)
        {
            return false;
        }

        channelNumber = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        payloadLength = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        return IsValidChannelNumber(channelNumber) && payloadLength <= datagram.Length - HeaderLength;
    }

    /// <summary>Writes the 4-byte header for <paramref name="payloadLength"/> bytes (0..65535) of payload.</summary>
    public static void WriteHeader(Span<byte> destination, ushort channelNumber, int payloadLength)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, channelNumber);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
    }

    /// <summary>Length on a stream transport: header plus payload rounded up to a multiple of 4.</summary>
    public static int GetStreamFrameLength(int payloadLength) => HeaderLength + ((payloadLength + 3) & ~3);
}
