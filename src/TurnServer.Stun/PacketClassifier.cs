namespace TurnServer.Stun;

/// <summary>What the first byte of a packet on a TURN port says it is (RFC 7983 section 7, RFC 8656 section 12).</summary>
public enum PacketKind : byte
{
    /// <summary>Neither STUN nor ChannelData: drop and count.</summary>
    Unknown = 0,

    /// <summary>First byte 0..3: a STUN message.</summary>
    Stun,

    /// <summary>First byte 0x40..0x7F: ChannelData.</summary>
    ChannelData,

    /// <summary>First byte 20..63: DTLS (RFC 7983).</summary>
    Dtls,
}

/// <summary>First-byte demultiplexing of packets arriving on a listener.</summary>
public static class PacketClassifier
{
    /// <summary>Classifies a packet by its first byte; an empty packet is <see cref="PacketKind.Unknown"/>.</summary>
    public static PacketKind Classify(ReadOnlySpan<byte> packet) => packet.IsEmpty ? PacketKind.Unknown : packet[0] switch
    {
        <= 3 => PacketKind.Stun,
        >= 20 and <= 63 => PacketKind.Dtls,
        >= 0x40 and <= 0x7F => PacketKind.ChannelData,
        _ => PacketKind.Unknown,
    };
}
