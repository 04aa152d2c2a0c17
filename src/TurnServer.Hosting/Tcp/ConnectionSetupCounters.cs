using TurnServer.Hosting.Net;

namespace TurnServer.Hosting.Tcp;

/// <summary>Why a TCP or TLS client connection ended before it was set up (before its first STUN or ChannelData message could be read).</summary>
public enum ConnectionSetupFailure
{
    /// <summary>The PROXY protocol header, first byte and TLS handshake together took longer than the handshake timeout (10 s).</summary>
    Timeout,

    /// <summary>
    /// The client closed or reset the connection before it was set up, during a TLS handshake too: a client that
    /// rejects the server's certificate and hangs up without an alert is counted here.
    /// </summary>
    Closed,

    /// <summary>
    /// The TLS handshake failed: an alert, no protocol version or cipher suite in common, bytes that are not TLS, or
    /// the server's own TLS options could not be made.
    /// </summary>
    TlsHandshake,

    /// <summary>The PROXY protocol version 2 header from the load balancer (<c>tcp-proxy-port</c>) was malformed.</summary>
    ProxyHeader,
}

/// <summary>
/// TLS handshakes and failed connection setups over every TCP and TLS listener, for the metrics: a failed setup is
/// logged only at Debug level, since any scanner on the internet causes them, so the counters are what shows an
/// operator a broken certificate or cipher list. Handshakes begun are every connection to a port that takes only TLS
/// (<c>no-tcp</c>), else each whose first byte was a TLS handshake record; one count per connection.
/// </summary>
public sealed class ConnectionSetupCounters : HandshakeCounters<ConnectionSetupFailure>
{
}
