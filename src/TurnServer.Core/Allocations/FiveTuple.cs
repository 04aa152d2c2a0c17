using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>The transport between client and server (RFC 8656 section 3.1).</summary>
public enum TransportProtocol : byte
{
    /// <summary>UDP.</summary>
    Udp = 0,

    /// <summary>TCP.</summary>
    Tcp = 1,

    /// <summary>TLS over TCP.</summary>
    Tls = 2,

    /// <summary>DTLS over UDP.</summary>
    Dtls = 3,
}

/// <summary>
/// The 5-tuple that names an allocation (RFC 8656 section 2): client transport address, server transport address
/// and transport protocol. A value type so the per-packet lookup builds it on the stack.
/// </summary>
public readonly struct FiveTuple : IEquatable<FiveTuple>
{
    /// <summary>Creates a 5-tuple.</summary>
    public FiveTuple(TransportAddress clientAddress, TransportAddress serverAddress, TransportProtocol protocol)
    {
        ClientAddress = clientAddress;
        ServerAddress = serverAddress;
        Protocol = protocol;
    }

    /// <summary>The client's transport address as the server sees it (its server-reflexive address).</summary>
    public TransportAddress ClientAddress { get; }

    /// <summary>The server transport address the client sent to.</summary>
    public TransportAddress ServerAddress { get; }

    /// <summary>The transport protocol between them.</summary>
    public TransportProtocol Protocol { get; }

    /// <summary>True for TCP and TLS, where ChannelData is padded to 4 bytes (RFC 8656 section 12.5).</summary>
    public bool IsStream => Protocol is TransportProtocol.Tcp or TransportProtocol.Tls;

    /// <inheritdoc />
    public bool Equals(FiveTuple other) =>
        ClientAddress.Equals(other.ClientAddress) && ServerAddress.Equals(other.ServerAddress) && Protocol == other.Protocol;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is FiveTuple other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ClientAddress, ServerAddress.Port, Protocol);

    /// <summary><c>UDP 192.0.2.1:5000 -> 198.51.100.1:3478</c>.</summary>
    public override string ToString() => Protocol.ToString().ToUpperInvariant() + " " + ClientAddress + " -> " + ServerAddress;

    /// <summary>Same three parts.</summary>
    public static bool operator ==(FiveTuple left, FiveTuple right) => left.Equals(right);

    /// <summary>Any part differs.</summary>
    public static bool operator !=(FiveTuple left, FiveTuple right) => !left.Equals(right);
}
