using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// One DTLS listening socket: a <c>listening-ip</c> on <c>tls-listening-port</c> over UDP, as coTURN listens for
/// DTLS next to TLS. The receive loop demultiplexes datagrams by client address to sessions, each a
/// <see cref="DtlsSession"/> on its own thread with a bounded queue. A datagram from an unknown address starts a
/// session only if it is an initial ClientHello and <see cref="DtlsAdmission"/> allows it; anything else is dropped
/// and counted in <see cref="Counters"/>, except that plain STUN and ChannelData from an address without a session
/// are served as TURN over UDP on this port, as coTURN's listeners do (unless <c>no-udp</c>). No exception escapes the
/// loop; stopping closes the socket and every session.
/// </summary>
internal sealed partial class DtlsListener : BackgroundService, IClientConnectionSource
{
    private const int ReceiveBufferSize = 65536;
    private const int ResponseBufferSize = 2048;

    private readonly TurnEngine _engine;
    private readonly DtlsCredentials _credentials;
    private readonly DtlsLimits _limits;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Socket _socket;
    private readonly DtlsAdmission _admission;
    private readonly ConcurrentDictionary<TransportAddress, DtlsSession> _sessions = new();
    private readonly bool _plainUdp;
    private readonly byte[] _response = new byte[ResponseBufferSize];
    private readonly SendScratch _scratch = new();
    private TransportAddress _local;
    private volatile bool _stopping;

    /// <summary>Creates the listener; <see cref="StartAsync"/> binds it.</summary>
    /// <param name="endPoint">Where to listen (a <c>listening-ip</c> and <c>tls-listening-port</c>).</param>
    /// <param name="plainUdp">Whether plain TURN over UDP is served on this port too (false with <c>no-udp</c>).</param>
    /// <param name="engine">The protocol engine.</param>
    /// <param name="credentials">The certificate and key for handshakes.</param>
    /// <param name="limits">Handshake and session limits.</param>
    /// <param name="logger">Where sessions and failures are logged.</param>
    /// <param name="time">The clock.</param>
    public DtlsListener(IPEndPoint endPoint, bool plainUdp, TurnEngine engine, DtlsCredentials credentials, DtlsLimits limits, ILogger logger, TimeProvider time)
    {
        EndPoint = endPoint;
        _plainUdp = plainUdp;
        _engine = engine;
        _credentials = credentials;
        _limits = limits;
        _logger = logger;
        _time = time;
        _admission = new DtlsAdmission(limits);
        _socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _socket.DualMode = false;
        }

        _socket.ReceiveBufferSize = 4 * 1024 * 1024;
        _socket.SendBufferSize = 4 * 1024 * 1024;
    }

    /// <summary>Told after each session has ended and released its slots (tests await it; no other use).</summary>
    public event Action<DtlsSessionEnd>? SessionEnded;

    /// <summary>The configured address; after start, <see cref="LocalEndPoint"/> has the bound port.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The bound address and port (the OS picks the port when configured with 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Drops and handshake outcomes.</summary>
    public DtlsCounters Counters { get; } = new();

    /// <summary>Sessions alive (handshaking or established).</summary>
    public int SessionCount => _admission.Sessions;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Bind here, not in the loop, so a port that cannot be bound fails start-up with a clear error.
        _socket.Bind(EndPoint);
        _local = TransportAddress.FromEndPoint(LocalEndPoint);
        LogListening(_logger, LocalEndPoint.ToString());
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Sessions end first, while the socket can still carry their close_notify; no new ones start meanwhile.
        _stopping = true;
        List<Task> ended = [];
        foreach (DtlsSession session in _sessions.Values)
        {
            session.Close(DtlsSessionEndReason.ServerStopping);
            ended.Add(session.Ended);
        }

        try
        {
            await Task.WhenAll(ended).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _socket.Dispose();
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override void Dispose()
    {
        _socket.Dispose();
        base.Dispose();
    }

    /// <summary>The way back to a plain UDP client of this port: this socket, so replies leave from the address it used.</summary>
    public ClientConnection GetConnection(in FiveTuple fiveTuple) => Udp.PlainUdp.Connection(_socket, fiveTuple, _engine.Counters);

    /// <summary>Frees the handshake slot of <paramref name="session"/> (its thread calls this once, however the handshake ended).</summary>
    internal void OnHandshakeEnded(DtlsSession session) => _admission.EndHandshake(session.FiveTuple.ClientAddress);

    /// <summary>Forgets <paramref name="session"/> (its thread calls this last), so its address can start a new one.</summary>
    internal void OnSessionEnded(DtlsSession session, DtlsSessionEndReason reason)
    {
        _sessions.TryRemove(new KeyValuePair<TransportAddress, DtlsSession>(session.FiveTuple.ClientAddress, session));
        _admission.EndSession();
        Counters.Ended(reason);
        LogSessionEnded(_logger, session.FiveTuple.ToString(), reason);
        SessionEnded?.Invoke(new DtlsSessionEnd(session.FiveTuple, reason));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        byte[] receive = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize, pinned: true);
        var from = new SocketAddress(_socket.AddressFamily);
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
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException)
            {
                return;
            }

            try
            {
                Dispatch(receive.AsSpan(0, received), from);
            }
            catch (Exception e)
            {
                // A bug must cost one datagram, never the listener.
                LogDispatchFailed(_logger, e, LocalEndPoint.ToString());
            }
        }
    }

    private void Dispatch(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        if (!TransportAddress.TryRead(from, out TransportAddress client))
        {
            Counters.Drop(DtlsDropReason.NotDtlsRecord);
            return;
        }

        if (_sessions.TryGetValue(client, out DtlsSession? session))
        {
            // Junk that is not even a record header is dropped here, before it costs the session thread a wake-up.
            if (!DtlsRecord.StartsWithRecord(datagram))
            {
                Counters.Drop(DtlsDropReason.NotDtlsRecord);
            }
            else if (!session.Transport.TryEnqueue(datagram))
            {
                Counters.Drop(DtlsDropReason.QueueFull);
            }

            return;
        }

        if (_plainUdp && PacketClassifier.Classify(datagram) is PacketKind.Stun or PacketKind.ChannelData)
        {
            Udp.PlainUdp.Serve(_engine, _socket, this, datagram, new FiveTuple(client, _local, TransportProtocol.Udp), from, _response, _scratch);
            return;
        }

        if (!DtlsRecord.IsInitialClientHello(datagram) || _stopping)
        {
            Counters.Drop(DtlsDropReason.NotClientHello);
            return;
        }

        if (DtlsRecord.OffersOnlyOlderThanDtls12(datagram, out ushort recordVersion))
        {
            Counters.Drop(DtlsDropReason.UnsupportedVersion);
            RefuseVersion(recordVersion, from);
            return;
        }

        if (!_admission.TryAdmit(client, out DtlsDropReason refusal))
        {
            Counters.Drop(refusal);
            return;
        }

        session = new DtlsSession(
            this,
            new FiveTuple(client, _local, TransportProtocol.Dtls),
            _socket,
            client.ToSocketAddress(_socket.AddressFamily),
            _engine,
            _credentials,
            _limits,
            Counters,
            _logger,
            _time);
        _sessions[client] = session;
        session.Transport.TryEnqueue(datagram);
        Counters.HandshakeStarted();
        try
        {
            session.Start();
        }
        catch (OutOfMemoryException)
        {
            // No thread could be made: give the slots back as the session thread would have.
            OnHandshakeEnded(session);
            OnSessionEnded(session, DtlsSessionEndReason.HandshakeFailed);
        }
    }

    /// <summary>Answers a DTLS 1.0 ClientHello with a protocol_version alert: 15 bytes, less than it, so no amplification.</summary>
    private void RefuseVersion(ushort recordVersion, SocketAddress client)
    {
        Span<byte> alert = stackalloc byte[DtlsRecord.HeaderLength + 2];
        int length = DtlsRecord.WriteProtocolVersionAlert(alert, recordVersion);
        try
        {
            _socket.SendTo(alert[..length], SocketFlags.None, client);
        }
        catch (SocketException)
        {
            _engine.Counters.Drop(Core.Diagnostics.DropReason.SendFailed);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on DTLS {EndPoint}")]
    private static partial void LogListening(ILogger logger, string endPoint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DTLS session {FiveTuple} ended: {Reason}")]
    private static partial void LogSessionEnded(ILogger logger, string fiveTuple, DtlsSessionEndReason reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a datagram on DTLS {EndPoint} failed")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception, string endPoint);
}
