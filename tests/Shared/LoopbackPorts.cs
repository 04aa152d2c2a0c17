using System.Net;
using System.Net.Sockets;

namespace TurnServer.Tests.Shared;

/// <summary>
/// Ports for the servers tests start, in-process or as child processes, that must be named before they bind. Chosen
/// from 10000-19999: below the relay ports test servers use (20000-32767) and below Linux's ephemeral range
/// (32768-60999), where other tests' client sockets would take the port between this check and the server's bind.
/// </summary>
internal static class LoopbackPorts
{
    private const int First = 10000;
    private const int End = 20000;

    /// <summary>Enough that a range this sparsely used never runs out; few enough that a full one fails the test at once.</summary>
    private const int Attempts = 1000;

    /// <summary>
    /// A port free right now for both UDP and TCP on <paramref name="address"/> (127.0.0.1 by default), with the
    /// <paramref name="consecutive"/> - 1 ports above it free too (an RFC 5780 server also listens on the next one).
    /// </summary>
    /// <exception cref="InvalidOperationException">None was found in 1000 tries.</exception>
    public static int FreeServerPort(IPAddress? address = null, int consecutive = 1)
    {
        address ??= IPAddress.Loopback;
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            int port = Random.Shared.Next(First, End - consecutive + 1);
            if (AreFree(address, port, consecutive))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no free port in {First}-{End - 1} on {address} after {Attempts} tries");
    }

    private static bool AreFree(IPAddress address, int first, int count)
    {
        var held = new List<Socket>();
        try
        {
            for (int port = first; port < first + count; port++)
            {
                var udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                held.Add(udp);
                udp.Bind(new IPEndPoint(address, port));
                var tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                held.Add(tcp);
                tcp.Bind(new IPEndPoint(address, port));
            }

            return true;
        }
        catch (SocketException)
        {
            return false; // taken
        }
        finally
        {
            held.ForEach(socket => socket.Dispose());
        }
    }
}
