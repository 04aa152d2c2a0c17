using System.Buffers;
using System.Collections.Concurrent;
using Org.BouncyCastle.Crypto.Tls;
using TurnServer.Core.Relay;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// What BouncyCastle reads records from and writes records to for one client: a bounded queue that the UDP
/// listener's receive loop fills with this client's datagrams, and the listener's UDP path to the client to send by.
/// Also where the session's time limits and its anti-amplification rule live, since every wait and every send of the
/// handshake passes here.
/// </summary>
internal sealed class DtlsDatagramTransport : DatagramTransport
{
    /// <summary>
    /// Largest datagram BouncyCastle builds when it fragments handshake messages: under the 1,280-byte IPv6 minimum
    /// MTU with IP and UDP headers, so a certificate flight is never IP-fragmented. Application records ignore it.
    /// </summary>
    public const int SendLimit = 1200;

    /// <summary>Largest UDP payload over IPv4.</summary>
    public const int ReceiveLimit = 65507;

    private readonly ClientConnection _datagrams;
    private readonly DtlsCounters _counters;
    private readonly Lock _recordLayerLock;
    private readonly TimeProvider _time;
    private readonly long _handshakeDeadline;
    private readonly int _capacity;
    private readonly int _byteCapacity;
    private readonly int _maxFlights;
    private readonly ConcurrentQueue<(byte[] Buffer, int Length)> _queue = new();
    private readonly SemaphoreSlim _available = new(0);
    private int _queued;
    private int _queuedBytes;
    private volatile bool _handshakeComplete;
    private volatile bool _closeRequested;
    private volatile bool _closedByRecordLayer;
    private AuthenticatedRecordCipher? _cipher;
    private bool _spokenTo;
    private bool _flightOpen;
    private int _flights;

    /// <param name="datagrams">The plain UDP path to the client, from the address it sent to; it counts failed sends.</param>
    /// <param name="counters">The endpoint's DTLS counters.</param>
    /// <param name="recordLayerLock">
    /// The session's lock around BouncyCastle's record layer: released while <see cref="Receive"/> waits, so other
    /// threads can send records while the session thread is idle but never while it is processing one.
    /// </param>
    /// <param name="limits">Queue size and handshake timeout.</param>
    /// <param name="time">The clock the handshake deadline is measured on.</param>
    public DtlsDatagramTransport(ClientConnection datagrams, DtlsCounters counters, Lock recordLayerLock, DtlsLimits limits, TimeProvider time)
    {
        _datagrams = datagrams;
        _counters = counters;
        _recordLayerLock = recordLayerLock;
        _time = time;
        _capacity = limits.QueueCapacity;
        _byteCapacity = limits.QueueByteCapacity;
        _maxFlights = limits.MaxHandshakeFlights;
        _handshakeDeadline = time.GetTimestamp() + (long)(limits.HandshakeTimeout.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>True once the handshake deadline passed before the handshake finished.</summary>
    public bool HandshakeTimedOut { get; private set; }

    /// <summary>True once the session was asked to end (by the server, or by BouncyCastle closing the transport).</summary>
    public bool CloseRequested => _closeRequested;

    /// <summary>True when BouncyCastle closed the transport itself: after the client's close_notify or a fatal alert.</summary>
    public bool ClosedByRecordLayer => _closedByRecordLayer;

    /// <summary>True once the handshake has completed.</summary>
    public bool HandshakeComplete => _handshakeComplete;

    /// <summary>From now on, encrypted records that do not verify with <paramref name="cipher"/> are dropped before BouncyCastle sees them.</summary>
    public void Authenticate(AuthenticatedRecordCipher cipher) => _cipher = cipher;

    /// <summary>Lifts the handshake's deadline and send rule: the client has proved it receives at its address.</summary>
    public void MarkHandshakeComplete() => _handshakeComplete = true;

    /// <summary>
    /// Queues a datagram for the session (listener thread). False, and nothing kept, when the queue holds
    /// <see cref="DtlsLimits.QueueCapacity"/> datagrams or <see cref="DtlsLimits.QueueByteCapacity"/> bytes of
    /// buffers (each datagram's rounded up to a power of two by the pool), or the session is ending.
    /// </summary>
    public bool TryEnqueue(ReadOnlySpan<byte> datagram)
    {
        if (_closeRequested)
        {
            return false;
        }

        if (Interlocked.Increment(ref _queued) > _capacity)
        {
            Interlocked.Decrement(ref _queued);
            return false;
        }

        // Counted as the pool's buffer, which rounds the datagram up to a power of two: the memory actually held.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(datagram.Length);
        if (Interlocked.Add(ref _queuedBytes, buffer.Length) > _byteCapacity)
        {
            Interlocked.Add(ref _queuedBytes, -buffer.Length);
            Interlocked.Decrement(ref _queued);
            ArrayPool<byte>.Shared.Return(buffer);
            return false;
        }

        datagram.CopyTo(buffer);
        _queue.Enqueue((buffer, datagram.Length));
        _available.Release();
        return true;
    }

    /// <summary>Asks the session to end: its next (or current) wait returns at once.</summary>
    public void RequestClose()
    {
        _closeRequested = true;
        _available.Release();
    }

    /// <summary>Returns queued buffers to the pool; the session thread calls it last.</summary>
    public void Drain()
    {
        while (_queue.TryDequeue(out (byte[] Buffer, int Length) item))
        {
            ArrayPool<byte>.Shared.Return(item.Buffer);
        }
    }

    /// <inheritdoc />
    public int GetReceiveLimit() => ReceiveLimit;

    /// <inheritdoc />
    public int GetSendLimit() => SendLimit;

    /// <summary>
    /// The next datagram, or -1 after <paramref name="waitMillis"/> without one (BouncyCastle then retransmits during
    /// the handshake, and returns -1 to the caller after it). Ending the session, or passing the handshake deadline,
    /// throws during the handshake, which is how a blocked <c>Accept</c> is made to give up; afterwards it returns -1,
    /// never sooner than <paramref name="waitMillis"/> once the session is ending, and the session loop looks at
    /// <see cref="CloseRequested"/>.
    /// </summary>
    public int Receive(byte[] buf, int off, int len, int waitMillis)
    {
        if (_closeRequested && _handshakeComplete)
        {
            // BouncyCastle 1.8.10 reads -1 as "nothing yet" and calls again until its own wait has passed: returning
            // at once would spin a core with the record layer locked. Nothing is queued after a close, so there is
            // nothing to wait for but the time itself, spent with the lock released for relay threads.
            SleepUnlocked(waitMillis);
            return -1;
        }

        int wait = waitMillis;
        if (!_handshakeComplete)
        {
            long remaining = (_handshakeDeadline - _time.GetTimestamp()) * 1000 / _time.TimestampFrequency;
            if (remaining <= 0)
            {
                HandshakeTimedOut = true;
                throw new TimeoutException("DTLS handshake did not finish in time");
            }

            wait = (int)Math.Min(wait, remaining);
        }

        bool signalled = false;
        if (!_closeRequested)
        {
            bool held = _recordLayerLock.IsHeldByCurrentThread;
            if (held)
            {
                _recordLayerLock.Exit();
            }

            try
            {
                signalled = _available.Wait(Math.Max(wait, 0));
            }
            finally
            {
                if (held)
                {
                    _recordLayerLock.Enter();
                }
            }
        }

        if (_closeRequested)
        {
            return _handshakeComplete ? -1 : throw new OperationCanceledException("DTLS session closed during its handshake");
        }

        // Each queued datagram released the semaphore once: dequeue only after taking that count, so counts and items stay paired.
        if (!signalled || !_queue.TryDequeue(out (byte[] Buffer, int Length) item))
        {
            _spokenTo = false;
            return -1;
        }

        Interlocked.Decrement(ref _queued);
        Interlocked.Add(ref _queuedBytes, -item.Buffer.Length);
        int length = Math.Min(item.Length, len);
        item.Buffer.AsSpan(0, length).CopyTo(buf.AsSpan(off));
        ArrayPool<byte>.Shared.Return(item.Buffer);
        if (_cipher is { } cipher)
        {
            cipher.ForgetUnclaimed();
            length = KeepAuthentic(cipher, buf, off, length);
            if (length == 0)
            {
                return -1; // as if nothing came: a forged datagram does not open a flight either
            }
        }

        _spokenTo = true;
        _flightOpen = false;
        return length;
    }

    /// <summary>
    /// Removes from the datagram at <paramref name="off"/> the epoch-1 records that fail authentication, counting each;
    /// returns the length left. Other epochs pass untouched (epoch 0 has no MAC to check; BouncyCastle discards any
    /// other), and so does everything from the first malformed record on, which BouncyCastle discards itself.
    /// </summary>
    private int KeepAuthentic(AuthenticatedRecordCipher cipher, byte[] buf, int off, int length)
    {
        int read = off;
        int write = off;
        int end = off + length;
        while (DtlsRecord.StartsWithRecord(buf.AsSpan(read, end - read)))
        {
            ReadOnlySpan<byte> record = DtlsRecord.FirstRecord(buf.AsSpan(read, end - read));
            if (DtlsRecord.Epoch(record) == 1
                && !cipher.TryAuthenticate((1L << 48) | DtlsRecord.SequenceNumber(record), record[0], buf, read + DtlsRecord.HeaderLength, record.Length - DtlsRecord.HeaderLength))
            {
                _counters.Count(DtlsDropReason.UnauthenticatedRecord);
            }
            else
            {
                Buffer.BlockCopy(buf, read, buf, write, record.Length);
                write += record.Length;
            }

            read += record.Length;
        }

        Buffer.BlockCopy(buf, read, buf, write, end - read);
        return write - off + (end - read);
    }

    private void SleepUnlocked(int waitMillis)
    {
        bool held = _recordLayerLock.IsHeldByCurrentThread;
        if (held)
        {
            _recordLayerLock.Exit();
        }

        try
        {
            Thread.Sleep(Math.Max(waitMillis, 0));
        }
        finally
        {
            if (held)
            {
                _recordLayerLock.Enter();
            }
        }
    }

    /// <summary>
    /// Sends one record datagram to the client. Until the handshake completes, sends only while answering a datagram
    /// from the client, and at most <see cref="DtlsLimits.MaxHandshakeFlights"/> flights: BouncyCastle 1.8.10 has no
    /// HelloVerifyRequest, so a spoofed ClientHello starts a handshake, and this keeps it to one flight instead of a
    /// flight per retransmission timeout, and to a few however often the ClientHello is repeated.
    /// </summary>
    public void Send(byte[] buf, int off, int len)
    {
        if (!_handshakeComplete)
        {
            if (!_spokenTo)
            {
                _counters.Count(DtlsDropReason.UnansweredRetransmission);
                return;
            }

            // The first send after a datagram from the client begins a flight; the rest of that flight follows it.
            if (!_flightOpen)
            {
                _flightOpen = true;
                _flights++;
            }

            if (_flights > _maxFlights)
            {
                _counters.Count(DtlsDropReason.FlightLimit);
                return;
            }
        }

        _datagrams.Send(buf.AsSpan(off, len));
    }

    /// <summary>BouncyCastle closes the transport after a close_notify or a fatal alert (its own or the client's).</summary>
    public void Close()
    {
        _closedByRecordLayer = true;
        RequestClose();
    }
}
