using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Relay;

/// <summary>
/// A TCP connection between a relayed transport address and a peer: RFC 6062's "peer data connection".
/// Implemented by the hosting layer. Disposing closes it.
/// </summary>
public interface IPeerDataConnection : IDisposable
{
    /// <summary>The peer's transport address.</summary>
    TransportAddress PeerAddress { get; }
}

/// <summary>
/// Implemented by a client connection that can become an RFC 6062 client data connection: after a successful
/// ConnectionBind its bytes are relayed as-is to and from the peer (RFC 6062 section 5.4).
/// </summary>
public interface IDataConnectionBinder
{
    /// <summary>Turns this connection into a client data connection for <paramref name="peer"/>, once the ConnectionBind answer is sent.</summary>
    void BindPeer(IPeerDataConnection peer, Allocation allocation);
}

/// <summary>
/// A TCP relayed transport address (RFC 6062 section 5.1): a listening socket for peers on the relay IP and port,
/// and outgoing connections from that same address. It carries no datagrams.
/// </summary>
public abstract class TcpRelayEndpoint : RelayEndpoint
{
    /// <summary>The shortest time to wait for a peer to accept a connection (RFC 6062 section 5.2: at least 30 s).</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Creates the endpoint bound at <paramref name="localAddress"/>.</summary>
    protected TcpRelayEndpoint(TransportAddress localAddress)
        : base(localAddress)
    {
    }

    /// <summary>A TCP relay sends no datagrams; always false.</summary>
    public override bool SendTo(ReadOnlySpan<byte> payload, SocketAddress peer) => false;

    /// <summary>
    /// Opens a TCP connection from the relayed transport address to <paramref name="peer"/>. Completes with null,
    /// never an exception, when the peer refuses or does not answer within <see cref="ConnectTimeout"/>.
    /// </summary>
    public abstract Task<IPeerDataConnection?> ConnectAsync(TransportAddress peer);
}
