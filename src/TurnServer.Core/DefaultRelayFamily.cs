namespace TurnServer.Core;

/// <summary>
/// The address family of the relayed address when an Allocate carries neither REQUESTED-ADDRESS-FAMILY nor
/// ADDITIONAL-ADDRESS-FAMILY (coTURN's <c>allocation-default-address-family</c>).
/// </summary>
public enum DefaultRelayFamily
{
    /// <summary>IPv4, as RFC 8656 section 7.2 prescribes (the default).</summary>
    IPv4,

    /// <summary>IPv6: for networks whose peers are reachable over IPv6 only.</summary>
    IPv6,

    /// <summary>The family of the server address the client reached (coTURN's <c>keep</c> and <c>keep-address-family</c>).</summary>
    Keep,
}
