using TurnServer.Hosting.Net;

namespace TurnServer.Hosting.Dtls;

/// <summary>Why a DTLS listener or session dropped a datagram (or, for retransmissions, an outbound flight).</summary>
internal enum DtlsDropReason
{
    /// <summary>The first datagram from a new client address was not an initial ClientHello (or came while the listener stopped).</summary>
    NotClientHello,

    /// <summary>A datagram for a session did not start with a well-formed DTLS record.</summary>
    NotDtlsRecord,

    /// <summary>An initial ClientHello for DTLS 1.0 only: answered with a protocol_version alert, no session made.</summary>
    UnsupportedVersion,

    /// <summary>The session's inbound queue was full: its worker is behind.</summary>
    QueueFull,

    /// <summary>A ClientHello arrived while the server already ran as many handshakes as it allows.</summary>
    HandshakeLimit,

    /// <summary>A ClientHello arrived while its source IP already ran as many handshakes as one IP may.</summary>
    AddressHandshakeLimit,

    /// <summary>
    /// A ClientHello arrived after its source IP had started <see cref="DtlsLimits.HandshakeStartsPerAddress"/>
    /// handshakes within <see cref="DtlsLimits.HandshakeStartWindow"/> (or while as many addresses as are tracked had).
    /// </summary>
    AddressStartRate,

    /// <summary>A ClientHello arrived while the server already had as many sessions as it allows.</summary>
    SessionLimit,

    /// <summary>A ClientHello arrived while its source IP already held as many sessions as one IP may.</summary>
    AddressSessionLimit,

    /// <summary>
    /// A handshake retransmission the client had not asked for (no datagram from it since the last flight): not
    /// sent, so a spoofed ClientHello draws at most one flight.
    /// </summary>
    UnansweredRetransmission,

    /// <summary>
    /// A handshake datagram in a flight beyond <see cref="DtlsLimits.MaxHandshakeFlights"/>: not sent, so repeating a
    /// ClientHello from a forged address draws a bounded number of flights to it.
    /// </summary>
    FlightLimit,

    /// <summary>Decrypted application data that was neither STUN nor ChannelData.</summary>
    NotStunOrChannelData,

    /// <summary>
    /// An encrypted record that failed authentication (forged, or corrupted on the way): discarded, as RFC 6347
    /// section 4.1.2.7 says, rather than ending the session.
    /// </summary>
    UnauthenticatedRecord,
}

/// <summary>Why a DTLS session ended.</summary>
internal enum DtlsSessionEndReason
{
    /// <summary>The handshake failed: an alert, a protocol error, or an unsupported client.</summary>
    HandshakeFailed,

    /// <summary>The handshake did not finish within the handshake timeout.</summary>
    HandshakeTimedOut,

    /// <summary>The client sent close_notify.</summary>
    ClosedByClient,

    /// <summary>The session's allocation was deleted (Refresh with lifetime 0, expiry, shutdown).</summary>
    AllocationEnded,

    /// <summary>No allocation was made within <c>max-allocate-timeout</c>.</summary>
    NoAllocation,

    /// <summary>A fatal alert, or a record the record layer could not read.</summary>
    Failed,

    /// <summary>The listener stopped.</summary>
    ServerStopping,

    /// <summary>
    /// A new handshake from the client's address completed (RFC 6347 section 4.2.8): the client restarted, or a new
    /// client was given the same address and port.
    /// </summary>
    Replaced,
}

/// <summary>A session that ended: its 5-tuple and why.</summary>
internal readonly record struct DtlsSessionEnd(Core.Allocations.FiveTuple FiveTuple, DtlsSessionEndReason Reason);

/// <summary>
/// DTLS counters of one listening address: handshakes begun (sessions created for a ClientHello) and finished, and
/// datagrams (or suppressed flights) dropped by reason. None of them is on the per-record path of an established
/// session except a drop.
/// </summary>
internal sealed class DtlsCounters : HandshakeCounters<DtlsDropReason>
{
}
