using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// Binds relay sockets: UDP, and TCP for RFC 6062. The relay IP is coTURN's: the first <c>relay-ip</c> of the requested family if any are
/// configured; otherwise the IP the client reached the server on, when the family matches, else the first listening IP
/// of that family. With the Linux engine the sockets are bare descriptors polled by its workers; otherwise each is a
/// <see cref="Socket"/> with its own receive loop.
/// </summary>
internal sealed partial class UdpRelayEndpointFactory : IRelayEndpointFactory
{
    private const int RelayBufferBytes = 1024 * 1024;

    private readonly IReadOnlyList<IPAddress> _relayIps;
    private readonly IReadOnlyList<IPAddress> _listeningIps;
    private readonly ServerCounters _counters;
    private readonly ILogger _logger;
    private readonly LinuxUdpEngine? _linux;
    private readonly string? _device;
    private readonly byte[]? _deviceValue;
    private readonly DescriptorBudget _descriptors;
    private int _addressFailureLogged;

    /// <summary>
    /// Binds relays on <paramref name="relayIps"/> (<c>relay-ip</c>), else on the client's server IP or one of <paramref name="listeningIps"/>;
    /// UDP relays are the Linux engine's descriptors when <paramref name="linux"/> is given, else .NET sockets; every
    /// relay socket is tied to the network interface <paramref name="device"/> (<c>relay-device</c>) when given, and
    /// takes a descriptor from <paramref name="descriptors"/> (none left: <see cref="RelayBindError.NoResources"/>).
    /// </summary>
    public UdpRelayEndpointFactory(IReadOnlyList<IPAddress> relayIps, IReadOnlyList<IPAddress> listeningIps, ServerCounters counters, ILogger logger, DescriptorBudget descriptors, LinuxUdpEngine? linux = null, string? device = null)
    {
        _descriptors = descriptors;
        _device = device;
        _deviceValue = device is null ? null : NetworkDevice.Value(device);
        _relayIps = relayIps;
        _listeningIps = listeningIps;
        _counters = counters;
        _logger = logger;
        _linux = linux;
    }

    /// <inheritdoc />
    public bool SupportsFamily(AddressFamily family, in TransportAddress serverAddress) => ChooseIp(family, serverAddress) is not null;

    /// <inheritdoc />
    public RelayBindError TryBind(AddressFamily family, in TransportAddress serverAddress, int port, bool dontFragment, out RelayEndpoint? endpoint)
    {
        endpoint = null;
        IPAddress? ip = ChooseIp(family, serverAddress);
        if (ip is null)
        {
            return RelayBindError.FamilyNotSupported;
        }

        if (!_descriptors.TryTake())
        {
            return RelayBindError.NoResources;
        }

        RelayBindError error = _linux is not null ? BindLinux(ip, port, dontFragment, _linux, out endpoint) : BindSocket(ip, port, dontFragment, out endpoint);
        if (error != RelayBindError.None)
        {
            _descriptors.Return();
        }

        return error;
    }

    /// <inheritdoc />
    public RelayBindError TryBindTcp(AddressFamily family, in TransportAddress serverAddress, int port, out TcpRelayEndpoint? endpoint)
    {
        endpoint = null;
        IPAddress? ip = ChooseIp(family, serverAddress);
        if (ip is null)
        {
            return RelayBindError.FamilyNotSupported;
        }

        RelayBindError error = Tcp.TcpRelaySocket.TryBind(ip, port, _logger, _descriptors, out Tcp.TcpRelaySocket? relay, _device);
        endpoint = relay;
        return error;
    }

    private RelayBindError BindLinux(IPAddress ip, int port, bool dontFragment, LinuxUdpEngine linux, out RelayEndpoint? endpoint)
    {
        // The default receive buffer (rmem_default, 208 KB) holds only 92 datagrams of 1,200 bytes: a burst from a
        // peer while the worker is busy overflowed it (164 of 256 lost in turnload's 1-client run). It is a limit,
        // not memory taken, so an idle allocation costs nothing more.
        var local = new IPEndPoint(ip, port);
        SocketFd? fd = SocketFd.TryOpen(local, reusePort: false, dontFragment, bufferBytes: RelayBufferBytes, out int errno, _deviceValue);
        bool closing = false;
        if (fd is null && ResourceExhaustion.IsPortTakenErrno(errno))
        {
            // A relay socket of ours that a worker is closing: another port is tried. One closed since the bind
            // failed is no longer marked, so the bind is tried once more rather than the port taken for another program's.
            closing = linux.IsClosing(new TransportAddress(ip, port));
            if (!closing)
            {
                fd = SocketFd.TryOpen(local, reusePort: false, dontFragment, bufferBytes: RelayBufferBytes, out errno, _deviceValue);
            }
        }

        endpoint = fd is null ? null : new LinuxRelayEndpoint(fd, new TransportAddress(ip, port), linux, _descriptors);
        if (fd is not null)
        {
            Volatile.Write(ref _addressFailureLogged, 0);
            return RelayBindError.None;
        }

        if (ResourceExhaustion.IsPortTakenErrno(errno))
        {
            return closing ? RelayBindError.PortClosing : RelayBindError.PortInUse;
        }

        if (!ResourceExhaustion.IsErrno(errno))
        {
            AddressFailed(ip, "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return RelayBindError.NoResources;
    }

    /// <summary>Logs, once until a bind succeeds again, that the relay address itself cannot be bound.</summary>
    private void AddressFailed(IPAddress ip, string reason)
    {
        if (Interlocked.Exchange(ref _addressFailureLogged, 1) == 0)
        {
            LogAddressFailed(_logger, ip.ToString(), reason);
        }
    }

    private RelayBindError BindSocket(IPAddress ip, int port, bool dontFragment, out RelayEndpoint? endpoint)
    {
        endpoint = null;
        Socket? socket = null;
        try
        {
            socket = new Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            if (ip.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            if (dontFragment)
            {
                SetDontFragment(socket);
            }

            NetworkDevice.Apply(socket, _device);
            socket.Bind(new IPEndPoint(ip, port));
        }
        catch (Exception e) when (e is NotSupportedException or PlatformNotSupportedException)
        {
            // A platform without a DF option for this family: no relay, rather than one that fragments.
            socket?.Dispose();
            AddressFailed(ip, e.Message);
            return RelayBindError.NoResources;
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            if (ResourceExhaustion.IsPortTaken(e))
            {
                return RelayBindError.PortInUse;
            }

            if (!ResourceExhaustion.Is(e))
            {
                AddressFailed(ip, e.Message);
            }

            return RelayBindError.NoResources;
        }

        Volatile.Write(ref _addressFailureLogged, 0);
        endpoint = new UdpRelayEndpoint(socket, new TransportAddress(ip, port), _counters, _logger, _descriptors);
        return RelayBindError.None;
    }

    /// <summary>
    /// Sets the DF bit on the datagrams <paramref name="socket"/> sends, as DONT-FRAGMENT asks (RFC 8656 section 18.9).
    /// <see cref="Socket.DontFragment"/> covers IPv4 only (on an IPv6 socket .NET throws <see cref="NotSupportedException"/>,
    /// which escaped the Allocate and leaked its port, quota and descriptor), so IPv6 takes the platform's own option:
    /// IPV6_MTU_DISCOVER = IP_PMTUDISC_DO on Linux, as the Linux engine sets it, else IPV6_DONTFRAG.
    /// </summary>
    /// <exception cref="SocketException">The option is refused.</exception>
    /// <exception cref="NotSupportedException">The platform has no such option for this family.</exception>
    internal static void SetDontFragment(Socket socket)
    {
        if (socket.AddressFamily == AddressFamily.InterNetwork)
        {
            socket.DontFragment = true;
        }
        else if (OperatingSystem.IsLinux())
        {
            Span<byte> value = stackalloc byte[sizeof(int)];
            BitConverter.TryWriteBytes(value, Libc.IP_PMTUDISC_DO);
            socket.SetRawSocketOption(Libc.IPPROTO_IPV6, Libc.IPV6_MTU_DISCOVER, value);
        }
        else
        {
            // IPV6_DONTFRAG: 14 on Windows, 62 on the BSDs and macOS.
            socket.SetSocketOption(SocketOptionLevel.IPv6, (SocketOptionName)(OperatingSystem.IsWindows() ? 14 : 62), true);
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Relay address {Address} cannot be bound ({Reason}): Allocates get 508 until it can (is the address or relay-device gone?)")]
    private static partial void LogAddressFailed(ILogger logger, string address, string reason);
}
