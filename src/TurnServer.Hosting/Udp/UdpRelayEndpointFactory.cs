using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// Binds relay sockets: UDP, and TCP for RFC 6062. The relay IP is coTURN's: the first <c>relay-ip</c> of the requested family if any are
/// configured; otherwise the IP the client reached the server on, when the family matches, else the first listening IP
/// of that family.
/// </summary>
internal sealed class UdpRelayEndpointFactory : IRelayEndpointFactory
{
    private readonly IReadOnlyList<IPAddress> _relayIps;
    private readonly IReadOnlyList<IPAddress> _listeningIps;
    private readonly ServerCounters _counters;
    private readonly ILogger _logger;

    public UdpRelayEndpointFactory(IReadOnlyList<IPAddress> relayIps, IReadOnlyList<IPAddress> listeningIps, ServerCounters counters, ILogger logger)
    {
        _relayIps = relayIps;
        _listeningIps = listeningIps;
        _counters = counters;
        _logger = logger;
    }

    public bool SupportsFamily(AddressFamily family, in TransportAddress serverAddress) => ChooseIp(family, serverAddress) is not null;

    public RelayBindError TryBind(AddressFamily family, in TransportAddress serverAddress, int port, bool dontFragment, out RelayEndpoint? endpoint)
    {
        endpoint = null;
        IPAddress? ip = ChooseIp(family, serverAddress);
        if (ip is null)
        {
            return RelayBindError.FamilyNotSupported;
        }

        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (family == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            if (dontFragment)
            {
                socket.DontFragment = true;
            }

            socket.Bind(new IPEndPoint(ip, port));
        }
        catch (SocketException)
        {
            socket.Dispose();
            return RelayBindError.PortInUse;
        }

        endpoint = new UdpRelayEndpoint(socket, new TransportAddress(ip, port), _counters, _logger);
        return RelayBindError.None;
    }

    public RelayBindError TryBindTcp(AddressFamily family, in TransportAddress serverAddress, int port, out TcpRelayEndpoint? endpoint)
    {
        endpoint = null;
        IPAddress? ip = ChooseIp(family, serverAddress);
        if (ip is null)
        {
            return RelayBindError.FamilyNotSupported;
        }

        if (!Tcp.TcpRelaySocket.TryBind(ip, port, _logger, out Tcp.TcpRelaySocket? relay))
        {
            return RelayBindError.PortInUse;
        }

        endpoint = relay;
        return RelayBindError.None;
    }

    private IPAddress? ChooseIp(AddressFamily family, in TransportAddress serverAddress)
    {
        if (_relayIps.Count > 0)
        {
            return _relayIps.FirstOrDefault(ip => ip.AddressFamily == family);
        }

        if (serverAddress.AddressFamily == family)
        {
            return serverAddress.ToIPAddress();
        }

        return _listeningIps.FirstOrDefault(ip => ip.AddressFamily == family);
    }
}
