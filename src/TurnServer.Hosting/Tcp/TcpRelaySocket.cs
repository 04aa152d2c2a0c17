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
/// SO_REUSEPORT, which Linux requires for a connecting socket to share a listener's port). Peer connections either
/// way use client connections' <see cref="TcpKeepAlive"/>, so one whose peer vanished does not stay open while the
/// client refreshes. Disposing closes the listener and every peer connection, and ends the connects still under way.
/// </summary>
internal sealed partial class TcpRelaySocket : TcpRelayEndpoint
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    private readonly Socket _listener;
    private readonly ILogger _logger;
    private readonly string? _device;
    private readonly DescriptorBudget _descriptors;
    private readonly ConcurrentDictionary<PeerDataConnection, byte> _connections = new();

    // Cancelled by Dispose, so a connect under way (a peer that drops SYNs) does not keep its socket, its descriptor
    // and the relay's port, back in the pool by then, for the rest of the 30 s timeout. Never disposed: it has no
    // timer, and a Connect may still link to it after the relay is gone.
    private readonly CancellationTokenSource _closed = new();
    private long _acceptFailures;
    private int _disposed;

    private TcpRelaySocket(Socket listener, TransportAddress localAddress, ILogger logger, DescriptorBudget descriptors, string? device)
        : base(localAddress)
    {
        _listener = listener;
        _logger = logger;
        _descriptors = descriptors;
        _device = device;
    }

    private bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Accepts that failed with an error other than a connection reset before it was taken.</summary>
    public long AcceptFailures => Interlocked.Read(ref _acceptFailures);

    /// <summary>The listening socket (tests fail its accepts with shutdown(2)).</summary>
    internal Socket ListeningSocket => _listener;

    /// <summary>The peer connections open now, either way (tests read their sockets' options).</summary>
    internal ICollection<PeerDataConnection> PeerConnections => _connections.Keys;

    /// <summary>
    /// Binds and listens on <paramref name="ip"/>:<paramref name="port"/>, tied to the network interface <paramref name="device"/>
    /// (<c>relay-device</c>) when given, as its peer connections will be. The listener and each peer connection take a
    /// descriptor from <paramref name="descriptors"/>. Returns <see cref="RelayBindError.PortInUse"/> when the port is
    /// taken, <see cref="RelayBindError.NoResources"/> when descriptors ran out or the address or device cannot be bound.
    /// </summary>
    public static RelayBindError TryBind(IPAddress ip, int port, ILogger logger, DescriptorBudget descriptors, out TcpRelaySocket? relay, string? device = null)
    {
        relay = null;
        if (!descriptors.TryTake())
        {
            return RelayBindError.NoResources;
        }

        Socket? listener = null;
        try
        {
            listener = CreateSocket(ip.AddressFamily);
            NetworkDevice.Apply(listener, device);
            listener.Bind(new IPEndPoint(ip, port));
            listener.Listen(64);
        }
        catch (SocketException e)
        {
            listener?.Dispose();
            descriptors.Return();
            return ResourceExhaustion.IsPortTaken(e) ? RelayBindError.PortInUse : RelayBindError.NoResources;
        }

        relay = new TcpRelaySocket(listener, new TransportAddress(ip, port), logger, descriptors, device);
        return RelayBindError.None;
    }

    /// <inheritdoc />
    public override void Start(Allocation allocation) => _ = AcceptLoopAsync(allocation);

    /// <inheritdoc />
    public override async Task<IPeerDataConnection?> ConnectAsync(TransportAddress peer)
    {
        if (!_descriptors.TryTake())
        {
            LogConnectFailed(_logger, LocalAddress.ToString(), peer.ToString(), "no descriptor left for clients");
            return null;
        }

        Socket? socket = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            socket = CreateSocket(Family);
            TcpKeepAlive.Apply(socket);
            NetworkDevice.Apply(socket, _device);
            socket.Bind(LocalAddress.ToEndPoint());
            await socket.ConnectAsync(peer.ToEndPoint(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Refused, timed out, relay closed, or anything else: the descriptor goes back whatever the failure.
            LogConnectFailed(_logger, LocalAddress.ToString(), peer.ToString(), e.Message);
            socket?.Dispose();
            _descriptors.Return();
            return null;
        }

        return Track(socket, peer);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _listener.Dispose();
        _descriptors.Return();
        _closed.Cancel();
        foreach (PeerDataConnection connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }

    /// <summary>Stops tracking a peer connection that has been disposed, and gives its descriptor back.</summary>
    internal void Forget(PeerDataConnection connection)
    {
        _connections.TryRemove(connection, out _);
        _descriptors.Return();
    }

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
        if (IsDisposed)
        {
            connection.Dispose(); // the allocation ended while this was connecting
            return null;
        }

        return connection;
    }

    private async Task AcceptLoopAsync(Allocation allocation)
    {
        // The descriptor budget warns of exhaustion once for all relays, so that is only a debug line here.
        bool failing = false;
        Action<SocketException> failed = e =>
        {
            Interlocked.Increment(ref _acceptFailures);
            if (ResourceExhaustion.Is(e))
            {
                LogAcceptFailed(_logger, e, LocalAddress.ToString());
            }
            else if (!failing)
            {
                failing = true;
                LogAcceptFailing(_logger, LocalAddress.ToString(), e.SocketErrorCode, e.Message);
            }
        };
        while (await Accepting.NextAsync(_listener, failed, _closed.Token).ConfigureAwait(false) is { } socket)
        {
            failing = false;

            if (!_descriptors.TryTake())
            {
                socket.Dispose(); // refused at once rather than left queued
                continue;
            }

            PeerDataConnection? connection = null;
            try
            {
                socket.NoDelay = true;
                TcpKeepAlive.Apply(socket);
                connection = Track(socket, TransportAddress.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!));
                if (connection is not null)
                {
                    allocation.AcceptPeerConnection(connection);
                }
            }
            catch (Exception e)
            {
                // A peer that reset right after connecting, or a bug, costs that connection, never the relay's accept loop.
                if (connection is null)
                {
                    socket.Dispose();
                    _descriptors.Return();
                }
                else
                {
                    connection.Dispose(); // gives the descriptor back
                }

                LogAcceptFailed(_logger, e, LocalAddress.ToString());
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "TCP relay {Relay} could not accept peer connections: {Error} ({Reason}); retrying every 100 ms")]
    private static partial void LogAcceptFailing(ILogger logger, string relay, SocketError error, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "TCP relay {Relay} could not take a peer connection")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception, string relay);

    [LoggerMessage(Level = LogLevel.Debug, Message = "TCP relay {Relay} could not connect to {Peer}: {Reason}")]
    private static partial void LogConnectFailed(ILogger logger, string relay, string peer, string reason);
}

/// <summary>A TCP connection between a relayed address and a peer (RFC 6062's peer data connection).</summary>
internal sealed class PeerDataConnection : IPeerDataConnection
{
    private readonly TcpRelaySocket _owner;

    // Never disposed: it has no timer, and a client data connection may still register on it after the peer closed.
    private readonly CancellationTokenSource _closed = new();
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

    /// <summary>Cancelled once the connection is disposed, whoever disposed it (its allocation ending, among others).</summary>
    public CancellationToken Closed => _closed.Token;

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Forget(this);
            Stream.Dispose();
            _closed.Cancel();
        }
    }
}
