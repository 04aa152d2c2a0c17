using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Net;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tcp;

/// <summary>
/// An RFC 6062 TCP relayed transport address: a listening socket on the relay IP and port that hands each accepted
/// peer to its allocation, and outgoing connections made from that same address and port (both sockets set
/// SO_REUSEPORT, which Linux requires for a connecting socket to share a listener's port). Disposing closes the
/// listener and every peer connection.
/// </summary>
internal sealed partial class TcpRelaySocket : TcpRelayEndpoint
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    private readonly Socket _listener;
    private readonly ILogger _logger;
    private readonly string? _device;
    private readonly ConcurrentDictionary<PeerDataConnection, byte> _connections = new();
    private volatile bool _disposed;

    private TcpRelaySocket(Socket listener, TransportAddress localAddress, ILogger logger, string? device)
        : base(localAddress)
    {
        _listener = listener;
        _logger = logger;
        _device = device;
    }

    /// <summary>
    /// Binds and listens on <paramref name="ip"/>:<paramref name="port"/>, tied to the network interface <paramref name="device"/>
    /// (<c>relay-device</c>) when given, as its peer connections will be; false when the port is taken or the device refused.
    /// </summary>
    public static bool TryBind(IPAddress ip, int port, ILogger logger, out TcpRelaySocket? relay, string? device = null)
    {
        relay = null;
        Socket listener = CreateSocket(ip.AddressFamily);
        try
        {
            NetworkDevice.Apply(listener, device);
            listener.Bind(new IPEndPoint(ip, port));
            listener.Listen(64);
        }
        catch (SocketException)
        {
            listener.Dispose();
            return false;
        }

        relay = new TcpRelaySocket(listener, new TransportAddress(ip, port), logger, device);
        return true;
    }

    /// <inheritdoc />
    public override void Start(Allocation allocation) => _ = AcceptLoopAsync(allocation);

    /// <inheritdoc />
    public override async Task<IPeerDataConnection?> ConnectAsync(TransportAddress peer)
    {
        Socket socket = CreateSocket(Family);
        using var timeout = new CancellationTokenSource(ConnectTimeout);
        try
        {
            NetworkDevice.Apply(socket, _device);
            socket.Bind(LocalAddress.ToEndPoint());
            await socket.ConnectAsync(peer.ToEndPoint(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            LogConnectFailed(_logger, LocalAddress.ToString(), peer.ToString(), e.Message);
            socket.Dispose();
            return null;
        }

        return Track(socket, peer);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
        foreach (PeerDataConnection connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }

    /// <summary>Stops tracking a peer connection that has been disposed.</summary>
    internal void Forget(PeerDataConnection connection) => _connections.TryRemove(connection, out _);

    private static Socket CreateSocket(AddressFamily family)
    {
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        if (family == AddressFamily.InterNetworkV6)
        {
            socket.DualMode = false;
        }

        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
        }

        socket.NoDelay = true;
        return socket;
    }

    private PeerDataConnection? Track(Socket socket, TransportAddress peer)
    {
        var connection = new PeerDataConnection(socket, peer, this);
        _connections[connection] = 0;
        if (_disposed)
        {
            connection.Dispose(); // the allocation ended while this was connecting
            return null;
        }

        return connection;
    }

    private async Task AcceptLoopAsync(Allocation allocation)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException or OperationCanceledException)
            {
                return; // the allocation ended
            }

            try
            {
                socket.NoDelay = true;
                var peer = TransportAddress.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!);
                if (Track(socket, peer) is { } connection)
                {
                    allocation.AcceptPeerConnection(connection);
                }
            }
            catch (Exception e)
            {
                // A peer that reset right after connecting, or a bug, costs that connection, never the relay's accept loop.
                socket.Dispose();
                LogAcceptFailed(_logger, e, LocalAddress.ToString());
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "TCP relay {Relay} could not take a peer connection")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception, string relay);

    [LoggerMessage(Level = LogLevel.Debug, Message = "TCP relay {Relay} could not connect to {Peer}: {Reason}")]
    private static partial void LogConnectFailed(ILogger logger, string relay, string peer, string reason);
}

/// <summary>A TCP connection between a relayed address and a peer (RFC 6062's peer data connection).</summary>
internal sealed class PeerDataConnection : IPeerDataConnection
{
    private readonly TcpRelaySocket _owner;
    private int _disposed;

    /// <summary>Wraps a connected <paramref name="socket"/> to <paramref name="peer"/>, tracked by <paramref name="owner"/> until disposed.</summary>
    public PeerDataConnection(Socket socket, TransportAddress peer, TcpRelaySocket owner)
    {
        Socket = socket;
        PeerAddress = peer;
        _owner = owner;
        Stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <inheritdoc />
    public TransportAddress PeerAddress { get; }

    /// <summary>The connected TCP socket; <see cref="Stream"/> owns it.</summary>
    public Socket Socket { get; }

    /// <summary>The socket's stream, through which the peer's bytes are read and written.</summary>
    public NetworkStream Stream { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Forget(this);
            Stream.Dispose();
        }
    }
}
