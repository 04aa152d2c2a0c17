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

    private long _echoed;

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

                int sent = 0;
                while (sent < received)
                {
                    int n = Libc.sendmmsg(_socket.Fd, batch.Headers + sent, (uint)(received - sent), Libc.MSG_DONTWAIT);
                    sent += n > 0 ? n : 1;
                }

                Interlocked.Add(ref _echoed, received);
            }
        }

        Libc.close(epoll);
    }
}

/// <summary>Results of one relay run, over the measured interval.</summary>
internal readonly record struct RelayResult(
    double Seconds,
    long Sent,
    long Echoed,
    long Lost,
    double RelayedPerSecond,
    double ServerCpuSeconds,
    double GeneratorCpuSeconds,
    long P50Micros,
    long P99Micros)
{
    /// <summary>Packets the server relayed per second of its own CPU time (utime + stime).</summary>
    public double RelayedPerCpuSecond => ServerCpuSeconds > 0 ? RelayedPerSecond * Seconds / ServerCpuSeconds : 0;
}

/// <summary>
/// ChannelData from N clients through the server to the echo peer and back. Unpaced, each client keeps a window
/// of packets in flight (a new one leaves as each echo returns); paced, the clients together send at a fixed rate.
/// Each packet carries its send time, so every echo is a round-trip sample. A relayed packet is one the server
/// forwarded in either direction, so each echo counts two.
/// </summary>
internal sealed unsafe class RelayLoad
{
    private static readonly long StallTicks = Stopwatch.Frequency * 3 / 10;
    private readonly TurnSessions _sessions;
    private readonly int _payload;
    private readonly int _window;
    private readonly double _rate;
    private readonly int[] _inflight;
    private readonly int[] _deficit;
    private readonly int[] _sequence;
    private readonly long[] _lastHeard;
    private readonly long[] _nextSend;
    private readonly byte[] _frame;
    private readonly DatagramBatch _out = new(32, 4 + 2048);
    private readonly DatagramBatch _in = new(32, 4 + 2048);
    private readonly RttHistogram _rtt = new();
    private long _sent;
    private long _echoed;
    private bool _measuring;

    public RelayLoad(TurnSessions sessions, int payload, int window, double rate)
    {
        _sessions = sessions;
        _payload = Math.Max(payload, LoadPacket.MinimumSize);
        _window = window;
        _rate = rate;
        int n = sessions.Sessions.Length;
        _inflight = new int[n];
        _deficit = new int[n];
        _sequence = new int[n];
        _lastHeard = new long[n];
        _nextSend = new long[n];
        _frame = new byte[ChannelData.HeaderLength + _payload];
    }

    public RelayResult Run(int serverPid, double warmupSeconds, double seconds)
    {
        int epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        TurnSessions.Session[] clients = _sessions.Sessions;
        for (int i = 0; i < clients.Length; i++)
        {
            Libc.EpollAdd(epoll, clients[i].Socket.Fd, (ulong)i);
        }

        long start = Stopwatch.GetTimestamp();
        long measureFrom = start + (long)(warmupSeconds * Stopwatch.Frequency);
        long measureTo = measureFrom + (long)(seconds * Stopwatch.Frequency);
        double interval = _rate > 0 ? clients.Length / _rate : 0;
        for (int i = 0; i < clients.Length; i++)
        {
            _deficit[i] = _rate > 0 ? 0 : _window;
            _lastHeard[i] = start;
            _nextSend[i] = start + (long)(interval * Stopwatch.Frequency * i / clients.Length);
        }

        double cpu0 = 0, gen0 = 0;
        long sent0 = 0, echoed0 = 0;
        long nextStallCheck = start;
        byte* events = stackalloc byte[256 * 16];
        int eventSize = Libc.EpollEventSize;
        int selfPid = Environment.ProcessId;
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (!_measuring && now >= measureFrom)
            {
                _measuring = true;
                cpu0 = ProcStat.CpuSeconds(serverPid);
                gen0 = ProcStat.CpuSeconds(selfPid);
                sent0 = _sent;
                echoed0 = _echoed;
                _rtt.Clear();
            }

            if (now >= measureTo)
            {
                break;
            }

            SendDue(now, interval);
            int ready = Libc.epoll_wait(epoll, events, 256, _rate > 0 ? 1 : 10);
            for (int e = 0; e < ready; e++)
            {
                Receive((int)*(ulong*)(events + (e * eventSize) + Libc.EpollDataOffset));
            }

            if (_rate <= 0 && now >= nextStallCheck)
            {
                // Lost packets would shrink a client's window for good: refill a client that has heard nothing for a while.
                nextStallCheck = now + (StallTicks / 3);
                for (int i = 0; i < clients.Length; i++)
                {
                    if (now - _lastHeard[i] > StallTicks)
                    {
                        _inflight[i] = 0;
                        _deficit[i] = _window;
                        _lastHeard[i] = now;
                    }
                }
            }
        }

        double elapsed = (double)(Stopwatch.GetTimestamp() - measureFrom) / Stopwatch.Frequency;
        double cpu = ProcStat.CpuSeconds(serverPid) - cpu0;
        double gen = ProcStat.CpuSeconds(selfPid) - gen0;
        long sentMeasured = _sent - sent0;
        long echoedMeasured = _echoed - echoed0;
        long p50 = _rtt.Percentile(50);
        long p99 = _rtt.Percentile(99);

        // Stop sending and let what is in flight come home, so loss counts only what never returned.
        _measuring = false;
        long drainUntil = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 2);
        while (Stopwatch.GetTimestamp() < drainUntil)
        {
            int ready = Libc.epoll_wait(epoll, events, 256, 10);
            for (int e = 0; e < ready; e++)
            {
                Receive((int)*(ulong*)(events + (e * eventSize) + Libc.EpollDataOffset), refill: false);
            }
        }

        Libc.close(epoll);
        return new RelayResult(elapsed, sentMeasured, echoedMeasured, Math.Max(0, _sent - _echoed), echoedMeasured * 2 / elapsed, cpu, gen, p50, p99);
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
                count = _deficit[i];
                _deficit[i] = 0;
            }

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
        ChannelData.WriteHeader(_frame, TurnSessions.Channel, _payload);
        for (int k = 0; k < count; k++)
        {
            LoadPacket.Write(_frame.AsSpan(ChannelData.HeaderLength), now, client, _sequence[client]++);
            _out.TryAdd(fd, _frame, _sessions.ServerName);
        }

        int sent = 0;
        while (sent < _out.Count)
        {
            int n = Libc.sendmmsg(fd, _out.Headers + sent, (uint)(_out.Count - sent), Libc.MSG_DONTWAIT);
            if (n <= 0)
            {
                break; // the socket buffer is full: those count as lost
            }

            sent += n;
        }

        _out.Count = 0;
        _sent += count;
        _inflight[client] += sent;
    }

    private void Receive(int client, bool refill = true)
    {
        int fd = _sessions.Sessions[client].Socket.Fd;
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
                    || !LoadPacket.TryRead(datagram.Slice(ChannelData.HeaderLength, length), out long sentAt, out _, out _))
                {
                    continue;
                }

                _echoed++;
                if (_measuring)
                {
                    _rtt.Add(now - sentAt);
                }

                if (_inflight[client] > 0)
                {
                    _inflight[client]--;
                }

                if (refill && _rate <= 0)
                {
                    _deficit[client]++;
                }
            }

            _lastHeard[client] = now;
        }
    }
}
