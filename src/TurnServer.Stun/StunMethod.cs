namespace TurnServer.Stun;

/// <summary>
/// STUN methods (12 bits) used by STUN and TURN: RFC 8489 section 18.2, RFC 8656 section 17, RFC 6062 section 6.1.
/// </summary>
public enum StunMethod : ushort
{
    /// <summary>Binding (RFC 8489).</summary>
    Binding = 0x001,

    /// <summary>Allocate, request/response only (RFC 8656 section 7).</summary>
    Allocate = 0x003,

    /// <summary>Refresh, request/response only (RFC 8656 section 8).</summary>
    Refresh = 0x004,

    /// <summary>Send, indication only (RFC 8656 section 11).</summary>
    Send = 0x006,

    /// <summary>Data, indication only (RFC 8656 section 11).</summary>
    Data = 0x007,

    /// <summary>CreatePermission, request/response only (RFC 8656 section 10).</summary>
    CreatePermission = 0x008,

    /// <summary>ChannelBind, request/response only (RFC 8656 section 12).</summary>
    ChannelBind = 0x009,

    /// <summary>Connect (RFC 6062 section 4.3).</summary>
    Connect = 0x00A,

    /// <summary>ConnectionBind (RFC 6062 section 4.4).</summary>
    ConnectionBind = 0x00B,

    /// <summary>ConnectionAttempt, indication (RFC 6062 section 4.5).</summary>
    ConnectionAttempt = 0x00C,
}

/// <summary>The two class bits of a STUN message type (RFC 8489 section 5).</summary>
public enum StunMessageClass : byte
{
    /// <summary>0b00: a request.</summary>
    Request = 0,

    /// <summary>0b01: an indication.</summary>
    Indication = 1,

    /// <summary>0b10: a success response.</summary>
    SuccessResponse = 2,

    /// <summary>0b11: an error response.</summary>
    ErrorResponse = 3,
}

/// <summary>
/// Packs and unpacks the 14-bit message type: method bits M0..M11 interleaved with class bits C0 (bit 4) and C1 (bit 8),
/// as RFC 8489 section 5 figure 3 draws it.
/// </summary>
public static class StunMessageType
{
    /// <summary>Encodes <paramref name="method"/> and <paramref name="messageClass"/> as the 16-bit type field (host order).</summary>
    public static ushort Encode(StunMethod method, StunMessageClass messageClass)
    {
        int m = (int)method;
        int c = (int)messageClass;
        return (ushort)((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7));
    }

    /// <summary>Splits a 16-bit type field (host order, top two bits zero) into method and class.</summary>
    public static void Decode(ushort type, out StunMethod method, out StunMessageClass messageClass)
    {
        method = (StunMethod)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
        messageClass = (StunMessageClass)(((type >> 4) & 1) | ((type >> 7) & 2));
    }
}
