namespace TurnServer.Stun;

/// <summary>Fixed numbers of the STUN wire format (RFC 8489 section 5).</summary>
public static class StunConstants
{
    /// <summary>The magic cookie, 0x2112A442, carried in bytes 4..7 of every header in network order.</summary>
    public const uint MagicCookie = 0x2112A442;

    /// <summary>Size of the fixed header in bytes: type (2), length (2), cookie (4), transaction ID (12).</summary>
    public const int HeaderLength = 20;

    /// <summary>Size of an attribute's type-length header in bytes.</summary>
    public const int AttributeHeaderLength = 4;

    /// <summary>Size of the transaction ID in bytes (RFC 8489 section 5).</summary>
    public const int TransactionIdLength = 12;

    /// <summary>Length in bytes of the HMAC-SHA1 value of MESSAGE-INTEGRITY (RFC 8489 section 14.5).</summary>
    public const int MessageIntegrityLength = 20;

    /// <summary>Length in bytes of the full HMAC-SHA256 value of MESSAGE-INTEGRITY-SHA256 (RFC 8489 section 14.6).</summary>
    public const int MessageIntegritySha256Length = 32;

    /// <summary>Length in bytes of the FINGERPRINT value (RFC 8489 section 14.7).</summary>
    public const int FingerprintLength = 4;

    /// <summary>The value XORed with the CRC-32 in FINGERPRINT: ASCII "STUN" (RFC 8489 section 14.7).</summary>
    public const uint FingerprintXor = 0x5354554E;

    /// <summary>Largest message a STUN length field can describe: 20 + 65532 bytes (a multiple of 4).</summary>
    public const int MaxMessageLength = HeaderLength + 0xFFFC;
}
