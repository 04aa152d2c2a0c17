namespace TurnServer.Core.Diagnostics;

/// <summary>Why a packet was dropped. Counted, never logged per packet.</summary>
public enum DropReason
{
    /// <summary>First byte is neither STUN nor ChannelData.</summary>
    UnknownPacket,

    /// <summary>Shorter than a STUN header.</summary>
    StunTooShort,

    /// <summary>Bad magic cookie or top bits.</summary>
    StunBadHeader,

    /// <summary>Length field does not match.</summary>
    StunBadLength,

    /// <summary>Malformed attribute or attribute after FINGERPRINT.</summary>
    StunBadAttribute,

    /// <summary>FINGERPRINT present and wrong.</summary>
    StunBadFingerprint,

    /// <summary>A response or an indication other than Send arrived from a client.</summary>
    StunUnexpectedClass,

    /// <summary>Request ignored by configuration (stun-only, no-stun).</summary>
    StunIgnoredByConfiguration,

    /// <summary>ChannelData with a bad number or a length beyond the datagram.</summary>
    ChannelDataMalformed,

    /// <summary>ChannelData or Send indication from a 5-tuple without an allocation.</summary>
    NoAllocation,

    /// <summary>ChannelData on a channel that is not bound or has expired.</summary>
    ChannelNotBound,

    /// <summary>Send indication or ChannelData to a peer without a live permission.</summary>
    NoPermission,

    /// <summary>Send indication without XOR-PEER-ADDRESS or DATA, to port 0, or with an unknown comprehension-required attribute.</summary>
    SendIndicationMalformed,

    /// <summary>The socket refused to send.</summary>
    SendFailed,

    /// <summary>A datagram larger than the receive buffer.</summary>
    Truncated,

    /// <summary>
    /// Relayed data over the allocation's bandwidth limit for the current second (coTURN's <c>max-bps</c>), either
    /// way.
    /// </summary>
    BandwidthLimit,
}

/// <summary>Why authentication of a request failed.</summary>
public enum AuthFailureReason
{
    /// <summary>No MESSAGE-INTEGRITY: the usual first request, answered with a 401 challenge.</summary>
    Challenge,

    /// <summary>MESSAGE-INTEGRITY without USERNAME, REALM or NONCE (400).</summary>
    MissingAttributes,

    /// <summary>Expired or foreign NONCE (438).</summary>
    StaleNonce,

    /// <summary>REALM differs from the server's (401).</summary>
    WrongRealm,

    /// <summary>No key for the username, or an expired REST timestamp (401).</summary>
    UnknownUser,

    /// <summary>MESSAGE-INTEGRITY does not verify (401).</summary>
    BadIntegrity,

    /// <summary>Authenticated as a different user than the allocation's (441).</summary>
    WrongCredentials,

    /// <summary>An ACCESS-TOKEN (RFC 7635) with an unknown kid, that does not open, or that has expired (401).</summary>
    BadAccessToken,
}

/// <summary>
/// Server-wide counters for the control path and for drops: incremented with <see cref="Interlocked"/>, which is
/// cheap because the relay fast path does not touch them (it counts into its allocation).
/// </summary>
public sealed class ServerCounters
{
    private readonly long[] _drops = new long[Enum.GetValues<DropReason>().Length];
    private readonly long[] _authFailures = new long[Enum.GetValues<AuthFailureReason>().Length];
    private long _bindingRequests;
    private long _bindingResponses;
    private long _bindingErrors;
    private long _requests;
    private long _packetsProcessed;
    private TrafficTotals _ended;
    private readonly Lock _endedSync = new();

    /// <summary>Binding requests received.</summary>
    public long BindingRequests => Volatile.Read(ref _bindingRequests);

    /// <summary>Binding success responses sent.</summary>
    public long BindingResponses => Volatile.Read(ref _bindingResponses);

    /// <summary>Binding error responses sent.</summary>
    public long BindingErrors => Volatile.Read(ref _bindingErrors);

    /// <summary>STUN requests of any method received.</summary>
    public long Requests => Volatile.Read(ref _requests);

    /// <summary>STUN messages processed (parsed successfully), ChannelData excluded.</summary>
    public long PacketsProcessed => Volatile.Read(ref _packetsProcessed);

    /// <summary>Traffic of allocations that have ended.</summary>
    public TrafficTotals EndedTraffic
    {
        get
        {
            lock (_endedSync)
            {
                return _ended;
            }
        }
    }

    /// <summary>Packets dropped for <paramref name="reason"/>.</summary>
    public long GetDropped(DropReason reason) => Volatile.Read(ref _drops[(int)reason]);

    /// <summary>All packets dropped.</summary>
    public long TotalDropped
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _drops.Length; i++)
            {
                sum += Volatile.Read(ref _drops[i]);
            }

            return sum;
        }
    }

    /// <summary>Authentication failures for <paramref name="reason"/>.</summary>
    public long GetAuthFailures(AuthFailureReason reason) => Volatile.Read(ref _authFailures[(int)reason]);

    /// <summary>Counts a dropped packet.</summary>
    public void Drop(DropReason reason) => Interlocked.Increment(ref _drops[(int)reason]);

    /// <summary>Adds an ended allocation's <paramref name="traffic"/> to <see cref="EndedTraffic"/>.</summary>
    internal void AllocationEnded(TrafficTotals traffic)
    {
        lock (_endedSync)
        {
            _ended += traffic;
        }
    }

    /// <summary>Counts an authentication failure for <paramref name="reason"/>.</summary>
    internal void AuthFailed(AuthFailureReason reason) => Interlocked.Increment(ref _authFailures[(int)reason]);

    /// <summary>Counts a STUN message parsed successfully (<see cref="PacketsProcessed"/>).</summary>
    internal void Processed() => Interlocked.Increment(ref _packetsProcessed);

    /// <summary>Counts a STUN request of any method (<see cref="Requests"/>).</summary>
    internal void Request() => Interlocked.Increment(ref _requests);

    /// <summary>Counts a Binding request.</summary>
    internal void BindingRequest() => Interlocked.Increment(ref _bindingRequests);

    /// <summary>Counts a Binding answer: a success response when <paramref name="success"/>, else an error response.</summary>
    internal void BindingAnswered(bool success)
    {
        if (success)
        {
            Interlocked.Increment(ref _bindingResponses);
        }
        else
        {
            Interlocked.Increment(ref _bindingErrors);
        }
    }
}
