using System.Diagnostics;
using System.Net;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.LoadGenerator;

/// <summary>
/// A UDP echo peer on its own thread: every datagram goes straight back to its sender, read and written in
/// recvmmsg/sendmmsg batches so the peer is never the bottleneck.
/// </summary>
internal sealed unsafe class EchoPeer : IDisposable
{
    private readonly SocketFd _socket;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public EchoPeer(IPAddress ip)
    {
        _socket = SocketFd.TryOpen(new IPEndPoint(ip, 0), reusePort: false, dontFragment: false, bufferBytes: 4 << 20, out int error)
            ?? throw new InvalidOperationException("cannot bind the echo peer, errno " + error);
        EndPoint = new IPEndPoint(ip, _socket.GetLocalPort());
        _thread = new Thread(Run) { IsBackground = true, Name = "echo-peer" };
        _thread.Start();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Datagrams echoed so far.</summary>
    public long Echoed => Volatile.Read(ref _echoed);

    /// <summary>Datagrams the kernel refused to send back: lost by the peer, not by the server.</summary>
    public long SendFailures => Volatile.Read(ref _sendFailures);

    private long _echoed;
    private long _sendFailures;

    public void Dispose()
    {
        _stopping = true;
        _thread.Join();
        _socket.Dispose();
    }

    private void Run()
    {
        using var batch = new DatagramBatch(32, 2048);
        int epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        Libc.EpollAdd(epoll, _socket.Fd, 0);
        byte* events = stackalloc byte[16];
        while (!_stopping)
        {
            if (Libc.epoll_wait(epoll, events, 1, 50) <= 0)
            {
                continue;
            }

            while (true)
            {
                batch.PrepareReceive(32);
                int received = Libc.recvmmsg(_socket.Fd, batch.Headers, 32, Libc.MSG_DONTWAIT, null);
                if (received <= 0)
                {
                    break;
                }

                for (int i = 0; i < received; i++)
                {
                    batch.Iov[i].Length = batch.Headers[i].Length;
                }

                int sent = 0, failed = 0;
                while (sent < received)
                {
                    int n = Libc.sendmmsg(_socket.Fd, batch.Headers + sent, (uint)(received - sent), Libc.MSG_DONTWAIT);
                    if (n > 0)
                    {
                        sent += n;
                    }
                    else
                    {
                        sent++; // skip the datagram the kernel refused
                        failed++;
                    }
                }

                Interlocked.Add(ref _echoed, received - failed);
                Interlocked.Add(ref _sendFailures, failed);
            }
        }

        Libc.close(epoll);
    }
}

/// <summary>
/// Results of one relay run. Sent, echoed and lost count the packets sent in the measured interval, each followed
/// until it came back or timed out (Sent = Echoed + Lost); the rates are over the interval. Send failures are the
/// generator's and the echo peer's own, counted apart so they are not charged to the server.
/// </summary>
internal readonly record struct RelayResult(
    double Seconds,
    long Sent,
    long Echoed,
    long Lost,
    long GeneratorSendFailures,
    long PeerSendFailures,
    double AverageInFlight,
    double RelayedPerSecond,
    double ServerCpuSeconds,
    double GeneratorCpuSeconds,
    double GeneratorBusiestThreadPercent,
    long P50Micros,
    long P99Micros)
{
    /// <summary>Lost packets the server is to blame for: those the echo peer failed to send back were lost by it.</summary>
    public long ServerLost => Math.Max(0, Lost - PeerSendFailures);

    /// <summary>Packets the server relayed per second of its own CPU time (utime + stime).</summary>
    public double RelayedPerCpuSecond => ServerCpuSeconds > 0 ? RelayedPerSecond * Seconds / ServerCpuSeconds : 0;
}

/// <summary>
/// ChannelData from N clients through the server to the echo peer and back. Unpaced, each client keeps a window
/// of packets in flight (a new one leaves as each echo returns or times out); paced, the clients together send at a
/// fixed rate. Each packet carries its send time, so every echo is a round-trip sample. A relayed packet is one the
/// server forwarded in either direction, so each echo counts two.
/// </summary>
internal sealed unsafe class RelayLoad
{
    /// <summary>
    /// The benchmark's loss timeout: a packet not back within this long counts as lost and gives its window slot back.
    /// Loopback round trips stay in the low milliseconds even with full socket buffers, and a shorter wait would let a
    /// loss shrink the window for less time, but never for good.
    /// </summary>
    public const double DefaultLossTimeoutSeconds = 0.2;

    private readonly TurnSessions _sessions;
    private readonly long _lossTimeoutTicks;
    private readonly int _payload;
    private readonly double _rate;

    // Each client owns _slots window slots; a packet in flight holds one. Its sequence number is the slot plus a
    // multiple of _slots, so an echo finds its slot without a search, and a late echo for a reused slot is ignored.
    private readonly int _slots;
    private readonly long[] _slotSentAt;
    private readonly int[] _slotSequence;
    private readonly int[] _free;
    private readonly int[] _freeCount;
    private readonly long[] _nextSend;
    private readonly byte[] _frame;
    private readonly DatagramBatch _out = new(32, 4 + 2048);
    private readonly DatagramBatch _in = new(32, 4 + 2048);
    private readonly RttHistogram _rtt = new();
    private long _measureFrom;
    private long _measureTo;
    private long _inFlight;
    private long _arrived;
    private long _sent;
    private long _echoed;
    private long _lost;
    private long _sendFailures;
    private long _inFlightTicks;

    /// <param name="lossTimeoutSeconds">How long a packet may take to come back before it counts as lost.</param>
    public RelayLoad(TurnSessions sessions, int payload, int window, double rate, double lossTimeoutSeconds = DefaultLossTimeoutSeconds)
    {
        _sessions = sessions;
        _lossTimeoutTicks = (long)(lossTimeoutSeconds * Stopwatch.Frequency);
        _payload = Math.Max(payload, LoadPacket.MinimumSize);
        _rate = rate;
        int n = sessions.Sessions.Length;

        // Paced, a client has at most its rate times the timeout in flight; four times that never runs out.
        _slots = rate > 0 ? Math.Max(16, (int)Math.Ceiling(rate / n * _lossTimeoutTicks / Stopwatch.Frequency * 4)) : window;
        _slotSentAt = new long[n * _slots];
        _slotSequence = new int[n * _slots];
        _free = new int[n * _slots];
        _freeCount = new int[n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < _slots; k++)
            {
                _slotSequence[(i * _slots) + k] = k - _slots; // the first send adds _slots
                _free[(i * _slots) + k] = k;
            }

            _freeCount[i] = _slots;
        }

        _nextSend = new long[n];
        _frame = new byte[ChannelData.HeaderLength + _payload];
    }

    public RelayResult Run(int serverPid, EchoPeer peer, double warmupSeconds, double seconds)
    {
        int epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        TurnSessions.Session[] clients = _sessions.Sessions;
        for (int i = 0; i < clients.Length; i++)
        {
            Libc.EpollAdd(epoll, clients[i].Socket.Fd, (ulong)i);
        }

        long start = Stopwatch.GetTimestamp();
        _measureFrom = start + (long)(warmupSeconds * Stopwatch.Frequency);
        _measureTo = _measureFrom + (long)(seconds * Stopwatch.Frequency);
        double interval = _rate > 0 ? clients.Length / _rate : 0;
        for (int i = 0; i < clients.Length; i++)
        {
            _nextSend[i] = start + (long)(interval * Stopwatch.Frequency * i / clients.Length);
        }

        bool measuring = false;
        double cpu0 = 0, gen0 = 0;
        Dictionary<int, double> threads0 = [];
        long arrived0 = 0, peerFailures0 = 0;
        long nextExpiry = start;
        byte* events = stackalloc byte[256 * 16];
        int selfPid = Environment.ProcessId;
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (!measuring && now >= _measureFrom)
            {
                measuring = true;
                cpu0 = ProcStat.CpuSeconds(serverPid);
                gen0 = ProcStat.CpuSeconds(selfPid);
                threads0 = ProcStat.ThreadCpuSeconds();
                arrived0 = _arrived;
                peerFailures0 = peer.SendFailures;
            }

            if (now >= _measureTo)
            {
                break;
            }

            SendDue(now, interval);
            ReceiveReady(epoll, events, _rate > 0 ? 1 : 10);
            if (now >= nextExpiry)
            {
                nextExpiry = now + (_lossTimeoutTicks / 4);
                Expire(now);
            }
        }

        double elapsed = (double)(Stopwatch.GetTimestamp() - _measureFrom) / Stopwatch.Frequency;
        double cpu = ProcStat.CpuSeconds(serverPid) - cpu0;
        double gen = ProcStat.CpuSeconds(selfPid) - gen0;

        // A generator thread near 100% busy (this driving loop or the echo peer) caps the load the server sees.
        double busiest = 0;
        foreach ((int thread, double threadSeconds) in ProcStat.ThreadCpuSeconds())
        {
            busiest = Math.Max(busiest, threadSeconds - threads0.GetValueOrDefault(thread));
        }
        long arrived = _arrived - arrived0;

        // Stop sending and follow what is in flight until it comes back or times out, so each packet sent in the
        // measured interval counts once, as echoed or lost.
        while (_inFlight > 0)
        {
            ReceiveReady(epoll, events, 10);
            Expire(Stopwatch.GetTimestamp());
        }

        Libc.close(epoll);
        return new RelayResult(
            elapsed, _sent, _echoed, _lost, _sendFailures, peer.SendFailures - peerFailures0, _inFlightTicks / (elapsed * Stopwatch.Frequency), arrived * 2 / elapsed, cpu, gen, 100 * busiest / elapsed, _rtt.Percentile(50), _rtt.Percentile(99));
    }

    private bool IsMeasured(long sentAt) => sentAt >= _measureFrom && sentAt < _measureTo;

    private void ReceiveReady(int epoll, byte* events, int timeoutMilliseconds)
    {
        int ready = Libc.epoll_wait(epoll, events, 256, timeoutMilliseconds);
        for (int e = 0; e < ready; e++)
        {
            Receive((int)*(ulong*)(events + (e * Libc.EpollEventSize) + Libc.EpollDataOffset));
        }
    }

    private void SendDue(long now, double interval)
    {
        TurnSessions.Session[] clients = _sessions.Sessions;
        for (int i = 0; i < clients.Length; i++)
        {
            int count;
            if (_rate > 0)
            {
                count = 0;
                while (_nextSend[i] <= now && count < 32)
                {
                    _nextSend[i] += (long)(interval * Stopwatch.Frequency);
                    count++;
                }
            }
            else
            {
                count = _freeCount[i];
            }

            count = Math.Min(count, _freeCount[i]);
            while (count > 0)
            {
                int burst = Math.Min(count, 32);
                SendBurst(i, clients[i].Socket.Fd, burst);
                count -= burst;
            }
        }
    }

    private void SendBurst(int client, int fd, int count)
    {
        long now = Stopwatch.GetTimestamp();
        int first = client * _slots;
        ChannelData.WriteHeader(_frame, TurnSessions.Channel, _payload);
        for (int k = 0; k < count; k++)
        {
            int slot = first + _free[first + --_freeCount[client]];
            _slotSequence[slot] += _slots;
            _slotSentAt[slot] = now;
            LoadPacket.Write(_frame.AsSpan(ChannelData.HeaderLength), now, client, _slotSequence[slot]);
            _out.TryAdd(fd, _frame, _sessions.ServerName);
        }

        int sent = 0;
        while (sent < _out.Count)
        {
            int n = Libc.sendmmsg(fd, _out.Headers + sent, (uint)(_out.Count - sent), Libc.MSG_DONTWAIT);
            if (n <= 0)
            {
                break; // the socket buffer is full
            }

            sent += n;
        }

        _out.Count = 0;
        _inFlight += count;

        // Unsent packets never reached the server: their slots go straight back (unpaced, to be sent again). They were
        // popped last, so their numbers still sit in the free list just above its count.
        for (int k = sent; k < count; k++)
        {
            Release(client, first + _free[first + _freeCount[client]]);
        }

        if (IsMeasured(now))
        {
            _sent += sent;
            _sendFailures += count - sent;
        }
    }

    private void Receive(int client)
    {
        int fd = _sessions.Sessions[client].Socket.Fd;
        int first = client * _slots;
        while (true)
        {
            _in.PrepareReceive(32);
            int received = Libc.recvmmsg(fd, _in.Headers, 32, Libc.MSG_DONTWAIT, null);
            if (received <= 0)
            {
                return;
            }

            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < received; i++)
            {
                Span<byte> datagram = _in.Received(i);
                if (!ChannelData.TryParse(datagram, out _, out int length)
                    || !LoadPacket.TryRead(datagram.Slice(ChannelData.HeaderLength, length), out long sentAt, out _, out int sequence))
                {
                    continue;
                }

                int slot = first + (int)((uint)sequence % (uint)_slots);
                if (_slotSentAt[slot] != sentAt || _slotSequence[slot] != sequence)
                {
                    continue; // came back after it timed out: already counted as lost
                }

                if (now >= _measureFrom && now < _measureTo)
                {
                    _arrived++;
                }

                if (IsMeasured(sentAt))
                {
                    _echoed++;
                    _rtt.Add(now - sentAt);
                    _inFlightTicks += now - sentAt;
                }

                Release(client, slot);
            }
        }
    }

    /// <summary>Gives back the slot of every packet that has waited longer than the loss timeout.</summary>
    private void Expire(long now)
    {
        for (int slot = 0; slot < _slotSentAt.Length; slot++)
        {
            long sentAt = _slotSentAt[slot];
            if (sentAt != 0 && now - sentAt > _lossTimeoutTicks)
            {
                if (IsMeasured(sentAt))
                {
                    _lost++;
                    _inFlightTicks += now - sentAt;
                }

                Release(slot / _slots, slot);
            }
        }
    }

    private void Release(int client, int slot)
    {
        _slotSentAt[slot] = 0;
        _free[(client * _slots) + _freeCount[client]++] = slot - (client * _slots);
        _inFlight--;
    }
}
