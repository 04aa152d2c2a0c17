using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Relay;

/// <summary>
/// A relayed transport address (RFC 8656 section 2): a UDP socket bound to a relay IP and a port from the pool,
/// owned by exactly one allocation. The hosting layer implements the socket and its receive loop, which hands each
/// peer datagram to <see cref="Allocation.ForwardToClient"/>.
/// </summary>
public abstract class RelayEndpoint : IDisposable
{
    /// <summary>Creates the endpoint for the socket bound at <paramref name="localAddress"/>.</summary>
    protected RelayEndpoint(TransportAddress localAddress) => LocalAddress = localAddress;

    /// <summary>The address and port the socket is bound to.</summary>
    public TransportAddress LocalAddress { get; }

    /// <summary>The socket's family; peers' SocketAddresses for <see cref="SendTo"/> are built in it.</summary>
    public AddressFamily Family => LocalAddress.AddressFamily;

    /// <summary>Sends <paramref name="payload"/> to <paramref name="peer"/>. Returns false when the send failed (counted by the caller).</summary>
    public abstract bool SendTo(ReadOnlySpan<byte> payload, SocketAddress peer);

    /// <summary>Starts receiving from peers on behalf of <paramref name="allocation"/>.</summary>
    public abstract void Start(Allocation allocation);

    /// <summary>Closes the socket, which ends its receive loop. Safe to call more than once.</summary>
    public abstract void Dispose();
}

/// <summary>Why <see cref="IRelayEndpointFactory.TryBind"/> failed.</summary>
public enum RelayBindError
{
    /// <summary>Bound.</summary>
    None = 0,

    /// <summary>The port is taken by something outside the pool; try another.</summary>
    PortInUse,

    /// <summary>
    /// The port is held by this server's own relay socket of an allocation just deleted, whose close is still on its
    /// way: another port is tried, and this one goes back to the pool when the Allocate is done (not quarantined as
    /// another program's).
    /// </summary>
    PortClosing,

    /// <summary>No relay address of the requested family exists (answer 440).</summary>
    FamilyNotSupported,

    /// <summary>
    /// The bind failed for a reason not the port's: the process or system is out of descriptors or socket buffers
    /// (EMFILE, ENFILE, ENOBUFS, ENOMEM), or the relay address or device is gone (EADDRNOTAVAIL, ENODEV). Any other
    /// port would fail the same way, so it goes back to the pool at once and the Allocate gets 508.
    /// </summary>
    NoResources,
}

/// <summary>Binds relay sockets; implemented by the hosting layer, which knows relay-ip and the interfaces.</summary>
public interface IRelayEndpointFactory
{
    /// <summary>True when a relay address of <paramref name="family"/> is available to a client that reached the server at <paramref name="serverAddress"/>.</summary>
    bool SupportsFamily(AddressFamily family, in TransportAddress serverAddress);

    /// <summary>
    /// Binds a UDP socket of <paramref name="family"/> on <paramref name="port"/> of the relay IP chosen for a client that
    /// reached the server at <paramref name="serverAddress"/> (relay-ip if set, else the listener's own IP).
    /// </summary>
    RelayBindError TryBind(AddressFamily family, in TransportAddress serverAddress, int port, bool dontFragment, out RelayEndpoint? endpoint);

    /// <summary>
    /// Binds and listens on a TCP relayed transport address (RFC 6062 section 5.1) of <paramref name="family"/> on
    /// <paramref name="port"/>, on the same relay IP <see cref="TryBind"/> would choose.
    /// </summary>
    RelayBindError TryBindTcp(AddressFamily family, in TransportAddress serverAddress, int port, out TcpRelayEndpoint? endpoint);
}
