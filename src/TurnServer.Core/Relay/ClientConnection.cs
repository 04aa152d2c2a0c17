using TurnServer.Core.Allocations;

namespace TurnServer.Core.Relay;

/// <summary>
/// The path back to a client: a UDP listener socket plus the client's address, or a TCP/TLS connection.
/// Implemented by the hosting layer; the protocol code only frames bytes and hands them over.
/// </summary>
public abstract class ClientConnection
{
    /// <summary>The transport this connection runs over.</summary>
    public abstract TransportProtocol Protocol { get; }

    /// <summary>
    /// The (D)TLS protocol version the connection negotiated, in OpenSSL's words (<c>TLSv1.2</c>, <c>TLSv1.3</c>,
    /// <c>DTLSv1.2</c>) as coTURN reports it; null over plain UDP and TCP.
    /// </summary>
    public virtual string? TlsProtocol => null;

    /// <summary>
    /// The cipher suite the connection negotiated, by OpenSSL's name (<c>ECDHE-RSA-AES256-GCM-SHA384</c>,
    /// <c>TLS_AES_256_GCM_SHA384</c>) as coTURN reports it; null over plain UDP and TCP.
    /// </summary>
    public virtual string? TlsCipher => null;

    /// <summary>
    /// Sends one STUN message or ChannelData frame to the client. Stream transports receive frames already padded to
    /// 4 bytes. Must not throw: a failed send is dropped and counted by the implementation.
    /// </summary>
    /// <returns>
    /// False when the frame was dropped here (a client that does not read, a session gone, a socket error), so that it
    /// is not counted as traffic to the client; true once handed on, whose later fate (a batch send) is not known.
    /// </returns>
    public abstract bool Send(ReadOnlySpan<byte> frame);

    /// <summary>
    /// Called once when the allocation using this connection has been deleted, or moved to another connection
    /// (RFC 8016 mobility). Stream transports close the connection (after any answer still being written); UDP has
    /// nothing to do.
    /// </summary>
    public virtual void OnAllocationReleased()
    {
    }
}

/// <summary>Creates the <see cref="ClientConnection"/> an Allocate request needs, only when an allocation is made.</summary>
public interface IClientConnectionSource
{
    /// <summary>The connection to reach the client named by <paramref name="fiveTuple"/>.</summary>
    ClientConnection GetConnection(in FiveTuple fiveTuple);
}
