using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// The way back to a UDP client: the listener socket it sent to, so replies leave from the exact address and port
/// the client used (RFC 8656 section 3.1; browsers drop anything else), and its address as a reusable SocketAddress.
/// </summary>
internal sealed class UdpClientConnection : ClientConnection
{
    private readonly Socket _listener;
    private readonly SocketAddress _client;
    private readonly ServerCounters _counters;

    /// <summary>
    /// Replies to <paramref name="client"/> from <paramref name="listener"/>; failed sends are counted in
    /// <paramref name="counters"/>.
    /// </summary>
    public UdpClientConnection(Socket listener, SocketAddress client, ServerCounters counters)
    {
        _listener = listener;
        _client = client;
        _counters = counters;
    }

    /// <inheritdoc />
    public override TransportProtocol Protocol => TransportProtocol.Udp;

    /// <inheritdoc />
    public override bool Send(ReadOnlySpan<byte> frame)
    {
        try
        {
            _listener.SendTo(frame, SocketFlags.None, _client);
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _counters.Drop(DropReason.SendFailed);
            return false;
        }
    }
}
