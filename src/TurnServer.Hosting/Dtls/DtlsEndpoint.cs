using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// The DTLS side of one UDP listening address (coTURN takes DTLS on both <c>listening-port</c> and
/// <c>tls-listening-port</c>). The address's receive loop hands it every datagram whose first byte says DTLS
/// (RFC 7983); it demultiplexes them by client address to sessions, each a <see cref="DtlsSession"/> on its own
/// thread with a bounded queue. A datagram from an unknown address starts a session only if it is an initial
/// ClientHello and <see cref="DtlsAdmission"/> allows it; anything else is dropped and counted in
/// <see cref="Counters"/>. An initial ClientHello from the address of an established session starts a successor
/// beside it, which takes the address over once its handshake completes (RFC 6347 section 4.2.8). Sessions send through the address's UDP path to the client, so replies leave from the
/// address and port the client used.
/// </summary>
internal sealed partial class DtlsEndpoint
{
    private readonly TurnEngine _engine;
    private readonly DtlsCredentials _credentials;
    private readonly DtlsLimits _limits;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DtlsAdmission _admission;
    private readonly ConcurrentDictionary<TransportAddress, DtlsSession> _sessions = new();

    /// <summary>Guards the hand-over of an address between a session and its successor (rare: per session, never per record).</summary>
    private readonly Lock _renewalSync = new();
    private IClientConnectionSource? _udp;
    private TransportAddress _local;
    private volatile bool _stopping;

    /// <summary>Creates the endpoint; <see cref="Open"/> connects it to its bound address.</summary>
    /// <param name="engine">The protocol engine.</param>
    /// <param name="credentials">The certificate and key for handshakes.</param>
    /// <param name="limits">Handshake and session limits (per endpoint).</param>
    /// <param name="logger">Where sessions and failures are logged.</param>
    /// <param name="time">The clock.</param>
    public DtlsEndpoint(TurnEngine engine, DtlsCredentials credentials, DtlsLimits limits, ILogger logger, TimeProvider time)
    {
        _engine = engine;
        _credentials = credentials;
        _limits = limits;
        _logger = logger;
        _time = time;
        _admission = new DtlsAdmission(limits, time);
    }

    /// <summary>Told after each session has ended and released its slots (tests await it; no other use).</summary>
    public event Action<DtlsSessionEnd>? SessionEnded;

    /// <summary>Drops and handshake outcomes.</summary>
    public DtlsCounters Counters { get; } = new();

    /// <summary>Sessions alive (handshaking or established).</summary>
    public int SessionCount => _admission.Sessions;

    /// <summary>
    /// Connects the endpoint to its bound address, before the first datagram: <paramref name="local"/> is the server
    /// side of every session's 5-tuple, and <paramref name="udp"/> gives the plain UDP path to a client, which carries
    /// its records.
    /// </summary>
    public void Open(TransportAddress local, IClientConnectionSource udp)
    {
        _local = local;
        _udp = udp;
    }

    /// <summary>
    /// Takes one datagram from <paramref name="client"/> that is not STUN or ChannelData: queues it for the client's
    /// session, starts a session for an initial ClientHello, or drops and counts it. Called by the address's receive
    /// loop; never blocks.
    /// </summary>
    public void Receive(ReadOnlySpan<byte> datagram, in TransportAddress client)
    {
        DtlsSession? predecessor = null;
        if (_sessions.TryGetValue(client, out DtlsSession? session))
        {
            // Junk that is not even a record header is dropped here, before it costs the session thread a wake-up.
            if (!DtlsRecord.StartsWithRecord(datagram))
            {
                Counters.Count(DtlsDropReason.NotDtlsRecord);
                return;
            }

            if (session.Successor is { } successor)
            {
                if (successor.SharesDatagram(datagram))
                {
                    Enqueue(successor, datagram);
                }

                if (DtlsRecord.Epoch(datagram) == 0)
                {
                    return; // the new handshake's; the established session is past epoch 0
                }
            }
            else if (session.Transport.HandshakeComplete && DtlsRecord.IsInitialClientHello(datagram))
            {
                // RFC 6347 section 4.2.8: a new handshake from the address of an established session (its client
                // restarted, or a new client was given the same port). The old session stays until the new one
                // completes, so a forged ClientHello cannot end it.
                predecessor = session;
            }

            if (predecessor is null)
            {
                Enqueue(session, datagram);
                return;
            }
        }
        else if (!DtlsRecord.IsInitialClientHello(datagram))
        {
            Counters.Count(DtlsDropReason.NotClientHello);
            return;
        }

        StartSession(datagram, client, predecessor);
    }

    /// <summary>
    /// Ends every session (each sends its close_notify while the address can still carry it) and starts no new ones;
    /// completes when all have ended, or when <paramref name="cancellationToken"/> fires, with how many had not.
    /// Never throws. The caller closes the address's sockets afterwards.
    /// </summary>
    public async Task<int> CloseAsync(CancellationToken cancellationToken)
    {
        List<DtlsSession> sessions;
        lock (_renewalSync)
        {
            // Under the lock StartSession adds sessions under: none can be added after this walk and never be closed.
            _stopping = true;
            sessions = [.. _sessions.Values];
        }

        List<Task> ended = [];
        foreach (DtlsSession session in sessions)
        {
            if (session.Successor is { } successor)
            {
                successor.Close(DtlsSessionEndReason.ServerStopping);
                ended.Add(successor.Ended);
            }

            session.Close(DtlsSessionEndReason.ServerStopping);
            ended.Add(session.Ended);
        }

        Task all = Task.WhenAll(ended);
        await all.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return all.IsCompleted ? 0 : ended.Count(end => !end.IsCompleted);
    }

    /// <summary>Frees the handshake slot of <paramref name="session"/> (its thread calls this once, however the handshake ended).</summary>
    internal void OnHandshakeEnded(DtlsSession session) => _admission.EndHandshake(session.FiveTuple.ClientAddress, session.Transport.HandshakeComplete);

    /// <summary>
    /// The handshake of <paramref name="successor"/>, begun beside an established session of the same address, has
    /// completed: the client proved it holds the address, so the successor takes it over and the old session ends
    /// with its allocation, at once, so that the new client's Allocate finds the 5-tuple free. Called on the
    /// successor's thread before it reads its first record.
    /// </summary>
    internal void OnSuccessorEstablished(DtlsSession successor)
    {
        DtlsSession? predecessor;
        lock (_renewalSync)
        {
            predecessor = successor.Predecessor;
            if (predecessor is null)
            {
                return; // the old session ended first and handed the address over already
            }

            // predecessor.Successor stays set: the listener thread may have looked the predecessor up just before
            // this update, and it must still share the new client's records (its first request among them) with
            // the successor rather than give them to the old session alone, which cannot read them.
            successor.Predecessor = null;
            _sessions.TryUpdate(successor.FiveTuple.ClientAddress, successor, predecessor);
        }

        predecessor.Close(DtlsSessionEndReason.Replaced);

        // Ended even when it holds a mobility ticket, which would keep it past a mere close: its 5-tuple now belongs
        // to the new session, whose client could otherwise never allocate.
        if (_engine.Allocations.TryGet(predecessor.FiveTuple, out Allocation allocation) && allocation.Client == predecessor)
        {
            _engine.Allocations.Remove(allocation, AllocationEndReason.ConnectionClosed);
        }
    }

    /// <summary>
    /// Forgets <paramref name="session"/> (its thread calls this last), so its address can start a new one; a successor
    /// still handshaking for the address takes its place.
    /// </summary>
    internal void OnSessionEnded(DtlsSession session, DtlsSessionEndReason reason)
    {
        TransportAddress client = session.FiveTuple.ClientAddress;
        lock (_renewalSync)
        {
            if (session.Successor is { } successor)
            {
                // session.Successor stays set, as in OnSuccessorEstablished, for a listener thread that looked it up.
                successor.Predecessor = null;
                _sessions.TryUpdate(client, successor, session);
            }
            else
            {
                _sessions.TryRemove(new KeyValuePair<TransportAddress, DtlsSession>(client, session));
            }

            if (session.Predecessor is { } predecessor)
            {
                // A successor whose handshake failed: the session it would have replaced goes on as before.
                session.Predecessor = null;
                predecessor.Successor = null;
            }
        }

        _admission.EndSession(client);
        LogSessionEnded(_logger, session.FiveTuple.ToString(), reason);
        SessionEnded?.Invoke(new DtlsSessionEnd(session.FiveTuple, reason));
    }

    /// <summary>
    /// Starts a session for the initial ClientHello in <paramref name="datagram"/>, beside <paramref name="predecessor"/>
    /// when that established session holds the address; refuses DTLS 1.0 with an alert, and drops what admission
    /// control refuses.
    /// </summary>
    private void StartSession(ReadOnlySpan<byte> datagram, in TransportAddress client, DtlsSession? predecessor)
    {
        if (_stopping)
        {
            // Spares the admission work; the check that counts is made again under _renewalSync below.
            Counters.Count(DtlsDropReason.NotClientHello);
            return;
        }

        ClientConnection path = _udp!.GetConnection(new FiveTuple(client, _local, TransportProtocol.Udp));
        if (DtlsRecord.OffersOnlyOlderThanDtls12(datagram, out ushort recordVersion))
        {
            Counters.Count(DtlsDropReason.UnsupportedVersion);
            RefuseVersion(recordVersion, path);
            return;
        }

        if (!_admission.TryAdmit(client, out DtlsDropReason refusal))
        {
            Counters.Count(refusal);
            return;
        }

        var session = new DtlsSession(this, new FiveTuple(client, _local, TransportProtocol.Dtls), path, _engine, _credentials, _limits, Counters, _logger, _time);
        // Only the ClientHello: a record after it in the same datagram (a fatal alert, say) would end a forged
        // handshake, and free its slot, as soon as its first flight had gone out.
        session.Transport.TryEnqueue(DtlsRecord.FirstRecord(datagram));
        lock (_renewalSync)
        {
            // Refused while stopping (CloseAsync has walked the sessions already and would never close this one), or
            // when the old session ended, or another handshake began, since this datagram was routed: the client will
            // repeat its ClientHello.
            if (_stopping
                || (predecessor is not null
                    && (predecessor.Successor is not null || !_sessions.TryGetValue(client, out DtlsSession? current) || current != predecessor)))
            {
                _admission.EndHandshake(client, completed: false);
                _admission.EndSession(client);
                session.Transport.Drain();
                Counters.Count(DtlsDropReason.NotClientHello);
                return;
            }

            if (predecessor is null)
            {
                _sessions[client] = session;
            }
            else
            {
                predecessor.Successor = session;
                session.Predecessor = predecessor;
            }
        }

        Counters.HandshakeStarted();
        try
        {
            session.Start();
        }
        catch (Exception)
        {
            // No thread could be made (out of memory, or a thread limit): give the slots back as the session thread
            // would have, and keep the listener's receive loop, which called this, alive.
            OnHandshakeEnded(session);
            OnSessionEnded(session, DtlsSessionEndReason.HandshakeFailed);
        }
    }

    private void Enqueue(DtlsSession session, ReadOnlySpan<byte> datagram)
    {
        if (!session.Transport.TryEnqueue(datagram))
        {
            Counters.Count(DtlsDropReason.QueueFull);
        }
    }

    /// <summary>Answers a DTLS 1.0 ClientHello with a protocol_version alert: 15 bytes, less than it, so no amplification.</summary>
    private static void RefuseVersion(ushort recordVersion, ClientConnection path)
    {
        Span<byte> alert = stackalloc byte[DtlsRecord.HeaderLength + 2];
        int length = DtlsRecord.WriteProtocolVersionAlert(alert, recordVersion);
        path.Send(alert[..length]);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "DTLS session {FiveTuple} ended: {Reason}")]
    private static partial void LogSessionEnded(ILogger logger, string fiveTuple, DtlsSessionEndReason reason);
}
