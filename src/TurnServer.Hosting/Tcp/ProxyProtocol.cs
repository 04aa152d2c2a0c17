using System.Buffers.Binary;
using System.Net.Sockets;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tcp;

/// <summary>
/// The PROXY protocol version 2 header (HAProxy's proxy-protocol.txt, section 2.2) that a TCP load balancer sends
/// first on each connection it forwards, naming the client it stands for. coTURN's <c>tcp-proxy-port</c> takes it;
/// so does this server, so that XOR-MAPPED-ADDRESS, nonces, quotas and logs see the real client. Version 1 (text)
/// headers are not taken, as in coTURN.
/// </summary>
internal static class ProxyProtocol
{
    /// <summary>The fixed part: 12-byte signature, version and command, family and transport, 2-byte length.</summary>
    public const int FixedLength = 16;

    /// <summary>
    /// The longest address block (addresses and TLVs) taken, in bytes; a header announcing more is refused. HAProxy's
    /// TLVs (unique id, TLS details) stay far below it.
    /// </summary>
    public const int MaxBlockLength = 1024;

    private const byte CommandLocal = 0x20;
    private const byte CommandProxy = 0x21;
    private const byte TcpOverIPv4 = 0x11;
    private const byte TcpOverIPv6 = 0x21;

    private static ReadOnlySpan<byte> Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>
    /// Reads the header off <paramref name="socket"/>, leaving the connection's own bytes unread. Returns the client
    /// it names, or null for a LOCAL command (the balancer's own health check) or an address family other than TCP
    /// over IPv4 or IPv6, which mean "use the connection's own addresses".
    /// </summary>
    /// <exception cref="InvalidDataException">The connection does not start with a valid version 2 header.</exception>
    /// <exception cref="IOException">The connection closed inside the header.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public static async Task<TransportAddress?> ReadAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[FixedLength + MaxBlockLength];
        await ReceiveExactlyAsync(socket, buffer.AsMemory(0, FixedLength), cancellationToken).ConfigureAwait(false);
        int blockLength = ReadBlockLength(buffer.AsSpan(0, FixedLength));
        await ReceiveExactlyAsync(socket, buffer.AsMemory(FixedLength, blockLength), cancellationToken).ConfigureAwait(false);
        return ReadSource(buffer.AsSpan(0, FixedLength + blockLength));
    }

    /// <summary>The length of the address block that follows the fixed part <paramref name="fixedPart"/> (16 bytes).</summary>
    /// <exception cref="InvalidDataException">Not a version 2 header, an unknown command, or a block over <see cref="MaxBlockLength"/>.</exception>
    public static int ReadBlockLength(ReadOnlySpan<byte> fixedPart)
    {
        if (fixedPart.Length < FixedLength || !fixedPart[..Signature.Length].SequenceEqual(Signature))
        {
            throw new InvalidDataException("no PROXY protocol version 2 signature");
        }

        if (fixedPart[12] is not (CommandLocal or CommandProxy))
        {
            throw new InvalidDataException($"PROXY protocol version and command 0x{fixedPart[12]:X2} not supported");
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(fixedPart[14..]);
        return length <= MaxBlockLength ? length : throw new InvalidDataException($"PROXY protocol address block of {length} bytes");
    }

    /// <summary>
    /// The client named by a whole header (<paramref name="header"/>: fixed part and address block), or null when
    /// the connection's own addresses apply (LOCAL, or not TCP over IPv4 or IPv6).
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// A PROXY command with a family or transport the specification does not define (it says receivers must reject
    /// them), or a block too short for its address family.
    /// </exception>
    public static TransportAddress? ReadSource(ReadOnlySpan<byte> header)
    {
        ReadOnlySpan<byte> block = header[FixedLength..];
        if (header[12] == CommandLocal)
        {
            return null; // the block, family included, is discarded (proxy-protocol.txt section 2.2)
        }

        if (header[13] >> 4 > 3 || (header[13] & 0x0F) > 2)
        {
            throw new InvalidDataException($"PROXY protocol family and transport 0x{header[13]:X2} not defined");
        }

        // Source address, destination address, source port, destination port; TLVs may follow.
        int addressLength = header[13] switch
        {
            TcpOverIPv4 => 4,
            TcpOverIPv6 => 16,
            _ => 0,
        };
        if (addressLength == 0)
        {
            return null;
        }

        if (block.Length < (2 * addressLength) + 4)
        {
            throw new InvalidDataException($"PROXY protocol address block of {block.Length} bytes is too short");
        }

        ushort port = BinaryPrimitives.ReadUInt16BigEndian(block[(2 * addressLength)..]);
        return TransportAddress.FromBytes(block[..addressLength], port);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (buffer.Length > 0)
        {
            int received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                throw new IOException("closed inside the PROXY protocol header");
            }

            buffer = buffer[received..];
        }
    }
}
