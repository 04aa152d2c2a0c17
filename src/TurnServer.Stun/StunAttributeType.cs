namespace TurnServer.Stun;

/// <summary>
/// STUN attribute types (16 bits) from RFC 8489 section 18.3, RFC 8656 section 18, RFC 6062, RFC 6156 and RFC 5780.
/// Values 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF comprehension-optional.
/// </summary>
public enum StunAttributeType : ushort
{
    /// <summary>MAPPED-ADDRESS (RFC 8489 section 14.1).</summary>
    MappedAddress = 0x0001,

    /// <summary>CHANGE-REQUEST (RFC 5780 section 7.2); understood only in Binding requests where the server runs RFC 5780, else it draws 420.</summary>
    ChangeRequest = 0x0003,

    /// <summary>USERNAME (RFC 8489 section 14.3), UTF-8, under 513 bytes.</summary>
    Username = 0x0006,

    /// <summary>MESSAGE-INTEGRITY (RFC 8489 section 14.5), 20-byte HMAC-SHA1.</summary>
    MessageIntegrity = 0x0008,

    /// <summary>ERROR-CODE (RFC 8489 section 14.8).</summary>
    ErrorCode = 0x0009,

    /// <summary>UNKNOWN-ATTRIBUTES (RFC 8489 section 14.9), a list of 16-bit types.</summary>
    UnknownAttributes = 0x000A,

    /// <summary>CHANNEL-NUMBER (RFC 8656 section 18.1).</summary>
    ChannelNumber = 0x000C,

    /// <summary>LIFETIME (RFC 8656 section 18.2), seconds.</summary>
    Lifetime = 0x000D,

    /// <summary>XOR-PEER-ADDRESS (RFC 8656 section 18.3).</summary>
    XorPeerAddress = 0x0012,

    /// <summary>DATA (RFC 8656 section 18.4).</summary>
    Data = 0x0013,

    /// <summary>REALM (RFC 8489 section 14.9).</summary>
    Realm = 0x0014,

    /// <summary>
    /// ACCESS-TOKEN (RFC 7635 section 6.2): a self-contained token from an authorization server carrying the key
    /// that signs the request. Understood only with coTURN's <c>oauth</c>; otherwise it draws 420.
    /// </summary>
    AccessToken = 0x001B,

    /// <summary>NONCE (RFC 8489 section 14.10).</summary>
    Nonce = 0x0015,

    /// <summary>XOR-RELAYED-ADDRESS (RFC 8656 section 18.5).</summary>
    XorRelayedAddress = 0x0016,

    /// <summary>REQUESTED-ADDRESS-FAMILY (RFC 8656 section 18.6).</summary>
    RequestedAddressFamily = 0x0017,

    /// <summary>EVEN-PORT (RFC 8656 section 18.7).</summary>
    EvenPort = 0x0018,

    /// <summary>REQUESTED-TRANSPORT (RFC 8656 section 18.8).</summary>
    RequestedTransport = 0x0019,

    /// <summary>DONT-FRAGMENT (RFC 8656 section 18.9), no value.</summary>
    DontFragment = 0x001A,

    /// <summary>MESSAGE-INTEGRITY-SHA256 (RFC 8489 section 14.6).</summary>
    MessageIntegritySha256 = 0x001C,

    /// <summary>PASSWORD-ALGORITHM (RFC 8489 section 14.12).</summary>
    PasswordAlgorithm = 0x001D,

    /// <summary>USERHASH (RFC 8489 section 14.4), 32 bytes.</summary>
    UserHash = 0x001E,

    /// <summary>XOR-MAPPED-ADDRESS (RFC 8489 section 14.2).</summary>
    XorMappedAddress = 0x0020,

    /// <summary>RESERVATION-TOKEN (RFC 8656 section 18.10), 8 bytes.</summary>
    ReservationToken = 0x0022,

    /// <summary>CONNECTION-ID (RFC 6062 section 6.2.1), 4 bytes.</summary>
    ConnectionId = 0x002A,

    /// <summary>PASSWORD-ALGORITHMS (RFC 8489 section 14.11).</summary>
    PasswordAlgorithms = 0x8002,

    /// <summary>ALTERNATE-DOMAIN (RFC 8489 section 14.16).</summary>
    AlternateDomain = 0x8003,

    /// <summary>SOFTWARE (RFC 8489 section 14.14).</summary>
    Software = 0x8022,

    /// <summary>ALTERNATE-SERVER (RFC 8489 section 14.15).</summary>
    AlternateServer = 0x8023,

    /// <summary>FINGERPRINT (RFC 8489 section 14.7), CRC-32 XOR 0x5354554E.</summary>
    Fingerprint = 0x8028,

    /// <summary>ICE-CONTROLLED (RFC 8445); tolerated, never produced.</summary>
    IceControlled = 0x8029,

    /// <summary>ICE-CONTROLLING (RFC 8445); tolerated, never produced.</summary>
    IceControlling = 0x802A,

    /// <summary>RESPONSE-ORIGIN (RFC 5780 section 7.3).</summary>
    ResponseOrigin = 0x802B,

    /// <summary>OTHER-ADDRESS (RFC 5780 section 7.4).</summary>
    OtherAddress = 0x802C,

    /// <summary>ADDITIONAL-ADDRESS-FAMILY (RFC 8656 section 18.11).</summary>
    AdditionalAddressFamily = 0x8000,

    /// <summary>ADDRESS-ERROR-CODE (RFC 8656 section 18.12).</summary>
    AddressErrorCode = 0x8001,

    /// <summary>ICMP (RFC 8656 section 18.13).</summary>
    Icmp = 0x8004,

    /// <summary>THIRD-PARTY-AUTHORIZATION (RFC 7635 section 6.1): in a 401 challenge, the server name an access token must be for.</summary>
    ThirdPartyAuthorization = 0x802E,

    /// <summary>ORIGIN (RFC 7635 era, sent by some browsers); compared with <c>check-origin-consistency</c>.</summary>
    Origin = 0x802F,

    /// <summary>
    /// MOBILITY-TICKET (RFC 8016 section 3.4): empty in an Allocate that asks for mobility; an opaque ticket from the
    /// server in its answers, sent back in a Refresh from a new 5-tuple to move the allocation there.
    /// </summary>
    MobilityTicket = 0x8030,
}

/// <summary>Classification of attribute types.</summary>
public static class StunAttributeTypes
{
    /// <summary>True for 0x0000-0x7FFF: an agent that does not understand such an attribute must reject the message (RFC 8489 section 14).</summary>
    public static bool IsComprehensionRequired(ushort type) => type < 0x8000;

    /// <summary>
    /// True for comprehension-required types that this codec reads. A request carrying any other
    /// comprehension-required type is answered with 420 (RFC 8489 section 6.3.1).
    /// </summary>
    public static bool IsUnderstood(ushort type) => (StunAttributeType)type switch
    {
        StunAttributeType.MappedAddress or StunAttributeType.Username or StunAttributeType.MessageIntegrity
            or StunAttributeType.ErrorCode or StunAttributeType.UnknownAttributes or StunAttributeType.ChannelNumber
            or StunAttributeType.Lifetime or StunAttributeType.XorPeerAddress or StunAttributeType.Data
            or StunAttributeType.Realm or StunAttributeType.Nonce or StunAttributeType.XorRelayedAddress
            or StunAttributeType.RequestedAddressFamily or StunAttributeType.EvenPort or StunAttributeType.RequestedTransport
            or StunAttributeType.DontFragment or StunAttributeType.MessageIntegritySha256 or StunAttributeType.PasswordAlgorithm
            or StunAttributeType.UserHash or StunAttributeType.XorMappedAddress or StunAttributeType.ReservationToken
            or StunAttributeType.ConnectionId => true,
        _ => !IsComprehensionRequired(type),
    };
}
