namespace TurnServer.Stun;

/// <summary>Why <see cref="StunMessageReader.TryParse"/> accepted or rejected a buffer. Never an exception.</summary>
public enum StunParseResult
{
    /// <summary>A well-formed STUN message.</summary>
    Success = 0,

    /// <summary>Fewer than 20 bytes.</summary>
    TooShort,

    /// <summary>The two most significant bits of the first byte are not zero (RFC 8489 section 5).</summary>
    NotStun,

    /// <summary>Bytes 4..7 are not the magic cookie 0x2112A442.</summary>
    BadMagicCookie,

    /// <summary>The length field is not a multiple of 4 or does not match the buffer.</summary>
    BadLength,

    /// <summary>An attribute runs past the end of the message or has an invalid length for its type.</summary>
    BadAttribute,

    /// <summary>An attribute follows FINGERPRINT (RFC 8489 section 14.7).</summary>
    AttributeAfterFingerprint,

    /// <summary>FINGERPRINT is present and its CRC-32 does not match.</summary>
    BadFingerprint,
}
