using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// One UDP listening address (a <c>listening-ip</c> with <c>listening-port</c> or <c>tls-listening-port</c>), serving
/// plain TURN over UDP, DTLS, or both, as coTURN's UDP listeners do. With the Linux engine it binds one SO_REUSEPORT
/// socket per engine worker and hands them over; the workers receive and answer. Otherwise (the portable engine) it
/// owns one socket and its receive loop. Either way each datagram is classified by its first byte (RFC 7983):
/// ChannelData is relayed without a STUN decode, STUN goes to the engine and any answer is sent back from the address
/// the client used, DTLS records go to <see cref="Dtls"/>. The portable loop owns a pinned receive buffer, a send
/// buffer and one scratch <see cref="SocketAddress"/>, so steady-state relaying allocates nothing. Stopping ends the
/// DTLS sessions, then closes the socket(s), which ends the loop; no exception escapes it.
/// </summary>
internal sealed partial class UdpListener : BackgroundService, IClientConnectionSource
{
    private const int ReceiveBufferSize = 65536;
    private const int ResponseBufferSize = 2048;
    private const int KernelBufferBytes = 4 * 1024 * 1024;

    private readonly TurnEngine _engine;
    private readonly bool _plainUdp;
    private readonly ILogger _logger;
    private readonly LinuxUdpEngine? _linux;
    private readonly Socket? _socket;
    private readonly string? _device;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LinuxUdpListenerGroup? _group;
    private TransportAddress _local;

    /// <summary>Creates the listener; <see cref="StartAsync"/> binds it.</summary>
    /// <param name="endPoint">Where to listen.</param>
    /// <param name="protocol">
    /// <see cref="TransportProtocol.Udp"/> for <c>listening-port</c>, <see cref="TransportProtocol.Dtls"/> for
    /// <c>tls-listening-port</c>: which of the server's ports this is, whatever it serves.
    /// </param>
    /// <param name="plainUdp">Whether plain TURN over UDP is served (false with <c>no-udp</c>).</param>
    /// <param name="dtls">Where DTLS datagrams go, or null without DTLS (<c>no-dtls</c>, or no certificate).</param>
    /// <param name="engine">The protocol engine.</param>
    /// <param name="logger">Where the listener logs.</param>
    /// <param name="linux">The Linux engine whose workers serve the address, or null for the portable loop.</param>
    /// <param name="device">The network interface the sockets are tied to (<c>listening-device</c>), or null.</param>
    public UdpListener(IPEndPoint endPoint, TransportProtocol protocol, bool plainUdp, DtlsEndpoint? dtls, TurnEngine engine, ILogger logger, LinuxUdpEngine? linux = null, string? device = null)
    {
        _device = device;
        Protocol = protocol;
        _plainUdp = plainUdp;
        Dtls = dtls;
        _engine = engine;
        _logger = logger;
        _linux = linux;
        EndPoint = endPoint;
        if (linux is not null)
        {
            return;
        }

        _socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _socket.DualMode = false;
        }

        // Bigger kernel buffers absorb bursts while the loop is busy; the kernel caps them at net.core.*mem_max.
        _socket.ReceiveBufferSize = KernelBufferBytes;
        _socket.SendBufferSize = KernelBufferBytes;
    }

    /// <summary><see cref="TransportProtocol.Udp"/> on <c>listening-port</c>, <see cref="TransportProtocol.Dtls"/> on <c>tls-listening-port</c>.</summary>
    public TransportProtocol Protocol { get; }

    /// <summary>The DTLS sessions of this address, or null when it serves no DTLS.</summary>
    public DtlsEndpoint? Dtls { get; }

    /// <summary>The configured address; after start, <see cref="LocalEndPoint"/> has the bound port.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The bound address and port (useful when configured with port 0).</summary>
    public IPEndPoint LocalEndPoint => _group?.LocalEndPoint ?? (IPEndPoint)_socket!.LocalEndPoint!;

    /// <summary>Completes once the socket is bound.</summary>
    public Task Started => _started.Task;

    /// <inheritdoc />
    public ClientConnection GetConnection(in FiveTuple fiveTuple) => PlainUdp.Connection(_socket!, fiveTuple, _engine.Counters);

    /// <inheritdoc />
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Bind here, not in the loop, so a port that cannot be bound fails start-up with a clear error.
        if (_linux is not null)
        {
            _group = LinuxUdpListenerGroup.Bind(_linux.NewGroupId(), _engine, EndPoint, _linux.WorkerCount, KernelBufferBytes, _plainUdp, Dtls, _device is null ? null : NetworkDevice.Value(_device));
        }
        else
        {
            NetworkDevice.Apply(_socket!, _device);
            _socket!.Bind(EndPoint);
        }

        _local = TransportAddress.FromEndPoint(LocalEndPoint);
        IClientConnectionSource connections = _group is null ? this : _group;
        Dtls?.Open(_local, connections);
        if (_plainUdp && _engine.NatDiscovery is { } discovery && discovery.Serves(_local, TransportProtocol.Udp))
        {
            discovery.Attach(_local, connections);
        }

        if (_group is not null)
        {
            _linux!.AddListener(_group);
        }

        LogListening(_logger, ListenerKind, LocalEndPoint.ToString());
        _started.TrySetResult();
        return base.StartAsync(cancellationToken);
    }

    /// <summary>
    /// Ends the DTLS sessions, waiting for them until <paramref name="cancellationToken"/> (the host's shutdown
    /// timeout) fires, then closes the sockets. Never throws.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Dtls is not null && await Dtls.CloseAsync(cancellationToken).ConfigureAwait(false) is int left and > 0)
            {
                LogStopAbandoned(_logger, EndPoint.ToString(), left);
            }
        }
        finally
        {
            CloseSockets();
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _socket?.Dispose();
        base.Dispose();
    }

    private string ListenerKind => (_plainUdp, Dtls is not null) switch
    {
        (true, true) => "UDP and DTLS",
        (false, true) => "DTLS",
        _ => "UDP",
    };

    private void CloseSockets()
    {
        if (_group is not null)
        {
            _linux!.RemoveListener(_group);
        }

        _socket?.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_socket is null)
        {
            return; // the Linux engine's workers receive
        }

        byte[] receive = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize, pinned: true);
        byte[] response = GC.AllocateUninitializedArray<byte>(ResponseBufferSize, pinned: true);
        var from = new SocketAddress(_socket.AddressFamily);
        var scratch = new SendScratch();
        ServerCounters counters = _engine.Counters;
        while (!stoppingToken.IsCancellationRequested)
        {
            int received;
            try
            {
                received = await _socket.ReceiveFromAsync(receive, SocketFlags.None, from, stoppingToken).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize)
            {
                continue;
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
            {
                return;
            }
            catch (SocketException e)
            {
                // Not a stop: the socket itself failed, and this address serves no one until a restart. Say so.
                LogReceiveFailed(_logger, e, LocalEndPoint.ToString());
                return;
            }

            try
            {
                Handle(receive.AsSpan(0, received), from, response, scratch, counters);
            }
            catch (Exception e)
            {
                // A bug must cost one datagram, never the listener.
                LogHandlerFailed(_logger, e, LocalEndPoint.ToString());
            }
        }
    }

    private void Handle(ReadOnlySpan<byte> packet, SocketAddress from, byte[] response, SendScratch scratch, ServerCounters counters)
    {
        if (!TransportAddress.TryRead(from, out TransportAddress client))
        {
            counters.Drop(DropReason.UnknownPacket);
            return;
        }

        PacketKind kind = PacketClassifier.Classify(packet);
        if (Dtls is not null && (!_plainUdp || kind == PacketKind.Dtls))
        {
            Dtls.Receive(packet, client);
            return;
        }

        PlainUdp.Serve(_engine, _socket!, this, kind, packet, new FiveTuple(client, _local, TransportProtocol.Udp), from, response, scratch);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on {Transport} {EndPoint}")]
    private static partial void LogListening(ILogger logger, string transport, string endPoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopping {EndPoint}: {Count} DTLS sessions had not ended when the shutdown timeout ran out; closing the socket under them")]
    private static partial void LogStopAbandoned(ILogger logger, string endPoint, int count);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Receiving on {EndPoint} failed; the listener has stopped")]
    private static partial void LogReceiveFailed(ILogger logger, Exception exception, string endPoint);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a datagram on {EndPoint} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string endPoint);
}
