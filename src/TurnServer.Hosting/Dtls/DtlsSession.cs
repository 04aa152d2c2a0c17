using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Crypto.Tls;
using Org.BouncyCastle.Security;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Tls;
using TurnServer.Stun;
using TlsCipherSuite = System.Net.Security.TlsCipherSuite;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// One TURN client over DTLS (RFC 8656 section 3.1, RFC 6347): a handshake, then one STUN message or ChannelData
/// message per record, handled by the engine as over UDP (ChannelData unpadded, UDP relays). BouncyCastle's DTLS API
/// blocks, so the session runs on a thread of its own. Records are sent from any thread (answers from this one,
/// relayed peer data from relay loops) under <see cref="_recordLayer"/>, one message per record as coTURN sends them.
/// The session ends when its allocation is deleted, on the client's close_notify or a fatal alert, when no allocation
/// is made within <c>max-allocate-timeout</c>, or when the listener stops; ending it deletes its allocation.
/// </summary>
internal sealed partial class DtlsSession : ClientConnection, IClientConnectionSource
{
    private const int ResponseBufferSize = 2048;

    /// <summary>Largest message sent in one record: answers and relayed peer data with their headers stay well under it.</summary>
    private const int SendBufferSize = 4096;

    /// <summary>How often an established session wakes without traffic to check its allocation timeout.</summary>
    private const int IdleCheckMillis = 1000;

    /// <summary>BouncyCastle's handshake and record code is shallow; a small stack keeps a thread per session cheap.</summary>
    private const int ThreadStackSize = 512 * 1024;

    private readonly DtlsEndpoint _endpoint;
    private readonly TurnEngine _engine;
    private readonly DtlsCredentials _credentials;
    private readonly DtlsLimits _limits;
    private readonly DtlsCounters _counters;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _startedAt;

    /// <summary>
    /// Guards BouncyCastle's record layer, which is not thread-safe. The session thread holds it while it handshakes
    /// and while it processes a received record, and <see cref="DtlsDatagramTransport.Receive"/> lets go of it while
    /// waiting for a datagram, so relay threads send between records, never in the middle of one.
    /// </summary>
    private readonly Lock _recordLayer = new();
    private readonly byte[] _sendBuffer = new byte[SendBufferSize];
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DtlsTransport? _dtls;
    private int _closeReason = -1;
    private volatile DtlsSession? _successor;
    private volatile DtlsSession? _predecessor;
    private volatile bool _cipherChangeRouted;
    private volatile string? _cipher;

    /// <summary>
    /// A session for the client of <paramref name="fiveTuple"/> on <paramref name="endpoint"/>; encrypted records go out through
    /// <paramref name="datagrams"/>, the listener's way back to that client. <see cref="Start"/> runs it.
    /// </summary>
    public DtlsSession(
        DtlsEndpoint endpoint,
        FiveTuple fiveTuple,
        ClientConnection datagrams,
        TurnEngine engine,
        DtlsCredentials credentials,
        DtlsLimits limits,
        DtlsCounters counters,
        ILogger logger,
        TimeProvider time)
    {
        _endpoint = endpoint;
        FiveTuple = fiveTuple;
        _engine = engine;
        _credentials = credentials;
        _limits = limits;
        _counters = counters;
        _logger = logger;
        _time = time;
        _startedAt = time.GetTimestamp();
        Transport = new DtlsDatagramTransport(datagrams, counters, _recordLayer, limits, time);
    }

    /// <summary>The client's address, the listener's address, DTLS.</summary>
    public FiveTuple FiveTuple { get; }

    /// <summary>Where the listener queues this client's datagrams.</summary>
    public DtlsDatagramTransport Transport { get; }

    /// <summary>Completes when the session thread has finished and cleaned up.</summary>
    public Task Ended => _ended.Task;

    /// <inheritdoc />
    public override TransportProtocol Protocol => TransportProtocol.Dtls;

    /// <inheritdoc />
    public override string? TlsProtocol => _cipher is null ? null : "DTLSv1.2"; // the only version offered

    /// <inheritdoc />
    public override string? TlsCipher => _cipher;

    /// <summary>
    /// A session handshaking for this established session's client address (RFC 6347 section 4.2.8); it takes the
    /// address over if its handshake completes. Set and cleared by the endpoint under its hand-over lock; left set once
    /// this session has handed the address over.
    /// </summary>
    public DtlsSession? Successor
    {
        get => _successor;
        set => _successor = value;
    }

    /// <summary>The established session this one would replace, while its handshake runs (see <see cref="Successor"/>).</summary>
    public DtlsSession? Predecessor
    {
        get => _predecessor;
        set => _predecessor = value;
    }

    /// <summary>
    /// Whether this successor gets a datagram from the address it shares with its predecessor (RFC 6347 section
    /// 4.2.8): every epoch-0 datagram, which only the new handshake uses; and once the new client's ChangeCipherSpec
    /// has come, epoch-1 datagrams too, the first of which is its Finished. The predecessor gets those as well, so a
    /// forged ChangeCipherSpec cannot divert its client's records. Each session copes with the other's: BouncyCastle
    /// drops records of an epoch it has not entered and replays of sequence numbers it has seen, and a record it cannot
    /// authenticate ends only the session that read it (a forged successor; or the old session, which a completed
    /// successor is about to end anyway). Called by the listener thread only.
    /// </summary>
    public bool SharesDatagram(ReadOnlySpan<byte> datagram)
    {
        if (DtlsRecord.Epoch(datagram) != 0)
        {
            return _cipherChangeRouted;
        }

        if (DtlsRecord.ContainsChangeCipherSpec(datagram))
        {
            _cipherChangeRouted = true;
        }

        return true;
    }

    /// <inheritdoc />
    public ClientConnection GetConnection(in FiveTuple fiveTuple) => this;

    /// <summary>Starts the session thread; the listener has queued the ClientHello already.</summary>
    public void Start()
    {
        var thread = new Thread(Run, ThreadStackSize) { IsBackground = true, Name = "DTLS session" };
        thread.Start();
    }

    /// <summary>Asks the session to end for <paramref name="reason"/> (the first reason given is the one reported).</summary>
    public void Close(DtlsSessionEndReason reason)
    {
        Interlocked.CompareExchange(ref _closeReason, (int)reason, -1);
        Transport.RequestClose();
    }

    /// <summary>The allocation is gone (Refresh 0, expiry, shutdown): so is the reason for this session.</summary>
    public override void OnAllocationReleased() => Close(DtlsSessionEndReason.AllocationEnded);

    /// <summary>Encrypts <paramref name="frame"/> as one application-data record and sends it; drops and counts on failure.</summary>
    public override bool Send(ReadOnlySpan<byte> frame)
    {
        if (frame.Length > SendBufferSize)
        {
            _engine.Counters.Drop(DropReason.SendFailed);
            return false;
        }

        lock (_recordLayer)
        {
            // Null before the handshake completes and after the session ended; a close only requested still sends,
            // so the answer to the Refresh that deleted the allocation goes out.
            if (_dtls is null)
            {
                _engine.Counters.Drop(DropReason.SendFailed);
                return false;
            }

            frame.CopyTo(_sendBuffer);
            try
            {
                _dtls.Send(_sendBuffer, 0, frame.Length);
                return true;
            }
            catch (IOException)
            {
                // BouncyCastle has failed the record layer; the session thread sees the transport closed and ends.
                _engine.Counters.Drop(DropReason.SendFailed);
                return false;
            }
        }
    }

    private void Run()
    {
        DtlsSessionEndReason reason = DtlsSessionEndReason.Failed;
        try
        {
            DtlsTransport? dtls = Handshake(out reason);
            if (dtls is not null)
            {
                if (Predecessor is not null)
                {
                    _endpoint.OnSuccessorEstablished(this);
                }

                reason = Serve(dtls);
                lock (_recordLayer)
                {
                    // close_notify, unless the record layer is closed already or the address has a new session,
                    // whose client could not read it.
                    if (reason != DtlsSessionEndReason.Replaced)
                    {
                        dtls.Close();
                    }

                    _dtls = null;
                }
            }
        }
        catch (IOException e)
        {
            // A fatal alert from the client, a record that failed authentication, or a failed send.
            reason = RequestedReasonOr(DtlsSessionEndReason.Failed);
            LogSessionFailed(_logger, FiveTuple.ToString(), e.Message);
        }
        catch (Exception e)
        {
            // A bug must cost one session, never the process: this is the session thread's outermost frame.
            reason = DtlsSessionEndReason.Failed;
            LogSessionCrashed(_logger, e, FiveTuple.ToString());
        }
        finally
        {
            lock (_recordLayer)
            {
                _dtls = null;
            }

            _engine.Allocations.ConnectionClosed(FiveTuple, this);

            Transport.RequestClose(); // the listener queues nothing more for this session
            Transport.Drain();
            _endpoint.OnSessionEnded(this, reason);
            _ended.TrySetResult();
        }
    }

    /// <summary>Runs the handshake; null (with why in <paramref name="failure"/>) when it did not complete.</summary>
    private DtlsTransport? Handshake(out DtlsSessionEndReason failure)
    {
        failure = DtlsSessionEndReason.HandshakeFailed;
        try
        {
            var protocol = new DtlsServerProtocol(new SecureRandom());
            var server = new TurnDtlsServer(_credentials.Current, _limits.HandshakeTimeout, _credentials.ClientVerifier) { CipherReady = Transport.Authenticate };
            DtlsTransport dtls;
            lock (_recordLayer)
            {
                dtls = protocol.Accept(server, Transport);
                Transport.MarkHandshakeComplete();
                _dtls = dtls;
                _cipher = CipherList.OpenSslName((TlsCipherSuite)server.SelectedCipherSuite);
            }

            _counters.HandshakeCompleted();
            return dtls;
        }
        catch (IOException e)
        {
            // BouncyCastle reports every handshake failure as TlsFatalAlert (an IOException), wrapping ours.
            bool timedOut = Transport.HandshakeTimedOut || _time.GetElapsedTime(_startedAt) >= _limits.HandshakeTimeout;
            failure = RequestedReasonOr(timedOut ? DtlsSessionEndReason.HandshakeTimedOut : DtlsSessionEndReason.HandshakeFailed);
            LogHandshakeFailed(_logger, FiveTuple.ClientAddress.ToString(), e.InnerException?.Message ?? e.Message);
            return null;
        }
        finally
        {
            _endpoint.OnHandshakeEnded(this);
        }
    }

    /// <summary>Reads records until the session is to end; returns why.</summary>
    private DtlsSessionEndReason Serve(DtlsTransport dtls)
    {
        byte[] record = new byte[dtls.GetReceiveLimit()];
        byte[] response = new byte[ResponseBufferSize];
        var scratch = new SendScratch();
        TimeSpan allocationTimeout = _limits.AllocationTimeout;
        bool allocated = false;
        while (true)
        {
            // Checked before Receive: a close requested while handling a record (Refresh 0) ends the session now,
            // not after BouncyCastle has waited out a whole IdleCheckMillis for a datagram that will never be queued.
            if (Transport.CloseRequested)
            {
                // Closed by the record layer without a reason of ours: the client's close_notify.
                return RequestedReasonOr(Transport.ClosedByRecordLayer ? DtlsSessionEndReason.ClosedByClient : DtlsSessionEndReason.Failed);
            }

            int length;
            lock (_recordLayer)
            {
                length = dtls.Receive(record, 0, record.Length, IdleCheckMillis);
            }

            if (length >= 0)
            {
                Handle(record.AsSpan(0, length), response, scratch);
            }

            // Every pass, not only idle ones: a client that keeps sending records without allocating must time out
            // too. Once an allocation was seen the timeout no longer applies (losing it ends the session anyway).
            if (!allocated && _time.GetElapsedTime(_startedAt) >= allocationTimeout)
            {
                if (!HasAllocation())
                {
                    return DtlsSessionEndReason.NoAllocation;
                }

                allocated = true;
            }
        }
    }

    /// <summary>RFC 8656 section 12.5 (with RFC 7983 demultiplexing): a record holds one STUN or ChannelData message.</summary>
    private void Handle(ReadOnlySpan<byte> message, byte[] response, SendScratch scratch)
    {
        try
        {
            int length = _engine.ProcessMessage(PacketClassifier.Classify(message), message, FiveTuple, this, scratch, response);
            if (length < 0)
            {
                _counters.Count(DtlsDropReason.NotStunOrChannelData);
            }
            else if (length > 0)
            {
                Send(response.AsSpan(0, length));
            }
        }
        catch (Exception e)
        {
            // A bug must cost one message, never the session.
            LogHandlerFailed(_logger, e, FiveTuple.ToString());
        }
    }

    private bool HasAllocation() => _engine.Allocations.TryGet(FiveTuple, out Allocation allocation) && allocation.Client == this;

    private DtlsSessionEndReason RequestedReasonOr(DtlsSessionEndReason otherwise)
    {
        int requested = Volatile.Read(ref _closeReason);
        return requested >= 0 ? (DtlsSessionEndReason)requested : otherwise;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "DTLS handshake from {Client} failed: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string client, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DTLS session {FiveTuple} failed: {Reason}")]
    private static partial void LogSessionFailed(ILogger logger, string fiveTuple, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "DTLS session {FiveTuple} crashed")]
    private static partial void LogSessionCrashed(ILogger logger, Exception exception, string fiveTuple);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a DTLS record from {FiveTuple} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string fiveTuple);
}
