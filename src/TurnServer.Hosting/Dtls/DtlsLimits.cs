namespace TurnServer.Hosting.Dtls;

/// <summary>
/// Bounds on what DTLS clients can make the server hold. BouncyCastle's DTLS API blocks, so every session owns a
/// thread: these numbers bound threads as well as memory. A singleton in the host's services; tests replace it.
/// </summary>
internal sealed record DtlsLimits
{
    /// <summary>Most sessions (handshaking or established) per listening address; each holds a thread.</summary>
    public int MaxSessions { get; init; } = 1024;

    /// <summary>Most handshakes in progress per listening address.</summary>
    public int MaxHandshakes { get; init; } = 64;

    /// <summary>
    /// Most handshakes in progress from one source IP. Without a cookie exchange a spoofed ClientHello starts a
    /// handshake, so this bounds what one forged source address can make the server send to that address.
    /// </summary>
    public int MaxHandshakesPerAddress { get; init; } = 8;

    /// <summary>
    /// Handshakes one source IP may start per <see cref="HandshakeStartWindow"/>, refilled evenly (a token bucket).
    /// Handshake slots free as soon as a handshake fails, so <see cref="MaxHandshakesPerAddress"/> bounds only how
    /// many run at once: a forged ClientHello and an alert draw a flight and free the slot within milliseconds. This
    /// bounds the rate, so a forged address draws on average at most this many times <see cref="MaxHandshakeFlights"/>
    /// flights per window. A handshake that completes gives its start back (see <see cref="DtlsAdmission.EndHandshake"/>).
    /// </summary>
    public int HandshakeStartsPerAddress { get; init; } = 8;

    /// <summary>
    /// The period over which <see cref="HandshakeStartsPerAddress"/> starts refill: the handshake timeout, so the rate
    /// matches what the per-address handshake cap allowed when every forged handshake had to time out.
    /// </summary>
    public TimeSpan HandshakeStartWindow { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most flights the server sends before a handshake completes: its two (ServerHello to ServerHelloDone, then
    /// ChangeCipherSpec and Finished) and three retransmissions for a client whose datagrams were lost. A spoofed
    /// source can repeat its ClientHello; this bounds what each such handshake reflects to the forged address.
    /// </summary>
    public int MaxHandshakeFlights { get; init; } = 5;

    /// <summary>Longest a handshake may take, as for TLS.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = Tcp.TcpListenerService.HandshakeTimeout;

    /// <summary>How long a session may live without an allocation (coTURN's <c>max-allocate-timeout</c>).</summary>
    public TimeSpan AllocationTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Datagrams queued for one session's worker before further ones are dropped.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>
    /// Bytes of buffers queued for one session's worker before further datagrams are dropped, each datagram counted
    /// as its pooled buffer (rounded up to a power of two: 2,048 bytes for a 1,500-byte MTU datagram): 64 full-size
    /// datagrams fit, but 64 of UDP's 65,507 bytes would not, so a client cannot make each of
    /// <see cref="MaxSessions"/> sessions hold 4 MiB.
    /// </summary>
    public int QueueByteCapacity { get; init; } = 128 * 1024;
}
