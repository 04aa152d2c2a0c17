using System.Net;
using System.Net.Sockets;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// TURN over plain UDP for the managed receive loops (the UDP listener's portable engine and the DTLS listener, which
/// serves plain UDP on its port too): one datagram in, the engine's answer sent back from the socket it arrived on.
/// </summary>
internal static class PlainUdp
{
    /// <summary>
    /// Relays ChannelData or answers a STUN message from <paramref name="from"/>; anything else is dropped and counted.
    /// A failed send of the answer is counted, never thrown.
    /// </summary>
    /// <param name="engine">The protocol engine.</param>
    /// <param name="socket">The socket the datagram arrived on; the answer leaves from it.</param>
    /// <param name="connections">Makes the path back to the client if an allocation is created.</param>
    /// <param name="kind">What the datagram's first byte says it is (RFC 7983).</param>
    /// <param name="packet">The datagram.</param>
    /// <param name="fiveTuple">Where it came from and arrived, protocol UDP.</param>
    /// <param name="from">The sender, as received; the answer goes there.</param>
    /// <param name="response">Where the answer is written; at least 1,500 bytes.</param>
    /// <param name="scratch">The calling loop's scratch addresses.</param>
    public static void Serve(
        TurnEngine engine,
        Socket socket,
        IClientConnectionSource connections,
        PacketKind kind,
        ReadOnlySpan<byte> packet,
        in FiveTuple fiveTuple,
        SocketAddress from,
        Span<byte> response,
        SendScratch scratch)
    {
        int length = engine.ProcessMessage(kind, packet, fiveTuple, connections, scratch, response);
        if (length < 0)
        {
            engine.Counters.Drop(DropReason.UnknownPacket);
        }
        else if (length > 0)
        {
            try
            {
                socket.SendTo(response[..length], SocketFlags.None, from);
            }
            catch (SocketException)
            {
                engine.Counters.Drop(DropReason.SendFailed);
            }
        }
    }

    /// <summary>The way back to a plain UDP client: <paramref name="socket"/>, so replies leave from the address it used.</summary>
    public static ClientConnection Connection(Socket socket, in FiveTuple fiveTuple, ServerCounters counters) =>
        new UdpClientConnection(socket, fiveTuple.ClientAddress.ToSocketAddress(socket.AddressFamily), counters);
}
