namespace TurnServer.Stun;

/// <summary>STUN and TURN error codes (RFC 8489 section 14.8, RFC 8656 section 19, RFC 6062 section 6.3) and their reason phrases.</summary>
public static class StunErrorCodes
{
    /// <summary>300 Try Alternate.</summary>
    public const int TryAlternate = 300;

    /// <summary>400 Bad Request.</summary>
    public const int BadRequest = 400;

    /// <summary>401 Unauthenticated.</summary>
    public const int Unauthenticated = 401;

    /// <summary>403 Forbidden.</summary>
    public const int Forbidden = 403;

    /// <summary>420 Unknown Attribute.</summary>
    public const int UnknownAttribute = 420;

    /// <summary>405 Mobility Forbidden (RFC 8016 section 3.4): mobility was asked for and is not offered.</summary>
    public const int MobilityForbidden = 405;

    /// <summary>437 Allocation Mismatch.</summary>
    public const int AllocationMismatch = 437;

    /// <summary>438 Stale Nonce.</summary>
    public const int StaleNonce = 438;

    /// <summary>440 Address Family not Supported.</summary>
    public const int AddressFamilyNotSupported = 440;

    /// <summary>441 Wrong Credentials.</summary>
    public const int WrongCredentials = 441;

    /// <summary>442 Unsupported Transport Protocol.</summary>
    public const int UnsupportedTransportProtocol = 442;

    /// <summary>443 Peer Address Family Mismatch.</summary>
    public const int PeerAddressFamilyMismatch = 443;

    /// <summary>446 Connection Already Exists (RFC 6062).</summary>
    public const int ConnectionAlreadyExists = 446;

    /// <summary>447 Connection Timeout or Failure (RFC 6062).</summary>
    public const int ConnectionTimeoutOrFailure = 447;

    /// <summary>486 Allocation Quota Reached.</summary>
    public const int AllocationQuotaReached = 486;

    /// <summary>500 Server Error.</summary>
    public const int ServerError = 500;

    /// <summary>508 Insufficient Capacity.</summary>
    public const int InsufficientCapacity = 508;

    /// <summary>The reason phrase for <paramref name="code"/> in UTF-8, or "Error" for codes not listed here.</summary>
    public static ReadOnlySpan<byte> GetReasonPhrase(int code) => code switch
    {
        TryAlternate => "Try Alternate"u8,
        BadRequest => "Bad Request"u8,
        Unauthenticated => "Unauthenticated"u8,
        Forbidden => "Forbidden"u8,
        MobilityForbidden => "Mobility Forbidden"u8,
        UnknownAttribute => "Unknown Attribute"u8,
        AllocationMismatch => "Allocation Mismatch"u8,
        StaleNonce => "Stale Nonce"u8,
        AddressFamilyNotSupported => "Address Family not Supported"u8,
        WrongCredentials => "Wrong Credentials"u8,
        UnsupportedTransportProtocol => "Unsupported Transport Protocol"u8,
        PeerAddressFamilyMismatch => "Peer Address Family Mismatch"u8,
        ConnectionAlreadyExists => "Connection Already Exists"u8,
        ConnectionTimeoutOrFailure => "Connection Timeout or Failure"u8,
        AllocationQuotaReached => "Allocation Quota Reached"u8,
        ServerError => "Server Error"u8,
        InsufficientCapacity => "Insufficient Capacity"u8,
        _ => "Error"u8,
    };
}
