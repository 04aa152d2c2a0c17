using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.LoadGenerator;

/// <summary>What a session does after its authenticated Allocate succeeds.</summary>
internal enum SessionGoal
{
    /// <summary>ChannelBind 0x4000 to the peer (which installs the permission too), then stay.</summary>
    BindChannel,

    /// <summary>Refresh with LIFETIME 0, then start over with an unauthenticated Allocate (allocation-rate test).</summary>
    AllocateAndDelete,
}

/// <summary>Where a session is in its exchange with the server.</summary>
internal enum SessionStep
{
    Challenge,
    Allocate,
    ChannelBind,
    Refresh,
    Ready,
}

/// <summary>
/// TURN clients, one UDP socket each on a client loopback address (outside the relay IP, so client ports never
/// collide with relay ports), all driven by one epoll loop through Allocate (401 challenge, then with
/// MESSAGE-INTEGRITY), then ChannelBind or Refresh(0). Requests are retransmitted after 500 ms.
/// </summary>
internal sealed unsafe class TurnSessions : IDisposable
{
    public const ushort Channel = 0x4000;
    private static readonly long RetransmitTicks = Stopwatch.Frequency / 2;

    private readonly IPEndPoint _server;
    private readonly byte[] _serverName = new byte[DatagramBatch.NameSize];
    private readonly int _serverNameLength;
    private readonly string _user;
    private readonly string _realm;
    private readonly byte[] _key;
    private readonly TransportAddress _peer;
    private readonly SessionGoal _goal;
    private readonly int _epoll;
    private readonly byte[] _receive = new byte[4096];
    private readonly IPAddress _clientIp;
    private int _nextPort = 10000 + Random.Shared.Next(50000);

    public TurnSessions(IPEndPoint server, IPAddress clientIp, int count, string user, string password, string realm, IPEndPoint peer, SessionGoal goal)
    {
        _server = server;
        _serverNameLength = SockAddr.Write(TransportAddress.FromEndPoint(server), v6Socket: false, _serverName);
        _user = user;
        _realm = realm;
        _key = MessageIntegrity.ComputeLongTermKey(user, realm, password);
        _peer = TransportAddress.FromEndPoint(peer);
        _goal = goal;
        _clientIp = clientIp;
        _epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        Sessions = new Session[count];
        for (int i = 0; i < count; i++)
        {
            SocketFd socket = OpenClientSocket(clientIp);
            Sessions[i] = new Session(socket);
            Libc.EpollAdd(_epoll, socket.Fd, (ulong)i);
        }
    }

    public Session[] Sessions { get; }

    public ReadOnlySpan<byte> ServerName => _serverName.AsSpan(0, _serverNameLength);

    /// <summary>Allocate + Refresh(0) cycles completed (allocation-rate test).</summary>
    public long Cycles { get; set; }

    public long Retransmits { get; private set; }

    public long Failures { get; private set; }

    /// <summary>The last error answer, as code * 10 + the step it answered (diagnostics).</summary>
    public int LastError { get; private set; }

    /// <summary>Sessions that reached <see cref="SessionStep.Ready"/>.</summary>
    public int ReadyCount { get; private set; }

    /// <summary>Starts sessions [from, to) with their first request.</summary>
    public void Begin(int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            Sessions[i].Step = SessionStep.Challenge;
            Send(Sessions[i]);
        }
    }

    /// <summary>Runs the exchange until <paramref name="done"/> says so or <paramref name="deadline"/> (Stopwatch ticks) passes.</summary>
    public void Run(Func<bool> done, long deadline)
    {
        int eventSize = Libc.EpollEventSize;
        byte* events = stackalloc byte[256 * 16];
        long nextCheck = Stopwatch.GetTimestamp() + (RetransmitTicks / 5);
        while (!done() && Stopwatch.GetTimestamp() < deadline)
        {
            int ready = Libc.epoll_wait(_epoll, events, 256, 20);
            for (int e = 0; e < ready; e++)
            {
                int index = (int)*(ulong*)(events + (e * eventSize) + Libc.EpollDataOffset);
                Drain(Sessions[index]);
            }

            long now = Stopwatch.GetTimestamp();
            if (now >= nextCheck)
            {
                nextCheck = now + (RetransmitTicks / 5);
                foreach (Session session in Sessions)
                {
                    if (session.Step != SessionStep.Ready && session.RequestLength > 0 && now - session.SentAt > RetransmitTicks)
                    {
                        Retransmits++;
                        Transmit(session);
                    }
                }
            }
        }
    }

    public void Dispose()
    {
        foreach (Session session in Sessions)
        {
            session.Socket.Dispose();
        }

        Libc.close(_epoll);
    }

    private void ReplaceSocket(Session session)
    {
        Libc.EpollDelete(_epoll, session.Socket.Fd);
        session.Socket.Dispose();
        session.Socket = OpenClientSocket(_clientIp);
        Libc.EpollAdd(_epoll, session.Socket.Fd, (ulong)Array.IndexOf(Sessions, session));
    }

    /// <summary>
    /// A client socket on the next port of a rotation through 10000-59999: the kernel's random ephemeral ports soon
    /// repeat a 5-tuple whose allocation coTURN still holds after Refresh(0) (it answers 437), which would count
    /// against coTURN's allocation rate; rotating, a port comes back only after 50,000 others.
    /// </summary>
    private SocketFd OpenClientSocket(IPAddress ip)
    {
        int error = 0;
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            _nextPort = _nextPort >= 59999 ? 10000 : _nextPort + 1;
            SocketFd? socket = SocketFd.TryOpen(new IPEndPoint(ip, _nextPort), reusePort: false, dontFragment: false, bufferBytes: 1 << 20, out error);
            if (socket is not null)
            {
                return socket;
            }
        }

        throw new InvalidOperationException("cannot bind a client socket, errno " + error);
    }

    private void Drain(Session session)
    {
        fixed (byte* buffer = _receive)
        {
            while (true)
            {
                nint length = Recv(session.Socket.Fd, buffer, _receive.Length);
                if (length <= 0)
                {
                    return;
                }

                OnResponse(session, _receive.AsSpan(0, (int)length));
            }
        }
    }

    private void OnResponse(Session session, ReadOnlySpan<byte> datagram)
    {
        if (StunMessageReader.TryParse(datagram, out StunMessageReader message) != StunParseResult.Success || message.TransactionId != session.TransactionId)
        {
            return; // a late answer to a retransmitted request, or relayed data
        }

        int code = message.TryGetErrorCode(out int error, out _) ? error : 0;
        if (code is 401 or 438)
        {
            if (message.TryGetAttribute(StunAttributeType.Nonce, out ReadOnlySpan<byte> nonce))
            {
                session.Nonce = Encoding.UTF8.GetString(nonce);
            }

            if (session.Step == SessionStep.Challenge || code == 438)
            {
                session.Step = session.Step == SessionStep.Challenge ? SessionStep.Allocate : session.Step;
                Send(session);
                return;
            }
        }

        if (code == 437 && session.Step == SessionStep.Allocate)
        {
            // An earlier transmission of this Allocate succeeded and its answer was lost: the allocation is there.
            code = 0;
        }

        if (code != 0)
        {
            Failures++;
            LastError = code * 10 + (int)session.Step;
            if (_goal == SessionGoal.AllocateAndDelete)
            {
                ReplaceSocket(session);
            }

            session.Step = SessionStep.Challenge; // start over
            Send(session);
            return;
        }

        switch (session.Step)
        {
            case SessionStep.Allocate:
                message.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out TransportAddress relayed);
                session.Relayed = relayed;
                session.Step = _goal == SessionGoal.BindChannel ? SessionStep.ChannelBind : SessionStep.Refresh;
                Send(session);
                break;
            case SessionStep.ChannelBind:
                session.Step = SessionStep.Ready;
                session.RequestLength = 0;
                ReadyCount++;
                break;
            case SessionStep.Refresh:
                // A fresh 5-tuple for the next cycle: coTURN keeps a deleted allocation's 5-tuple busy (437) for a while.
                Cycles++;
                ReplaceSocket(session);
                session.Step = SessionStep.Challenge;
                Send(session);
                break;
        }
    }

    private void Send(Session session)
    {
        var writer = new StunMessageWriter(
            session.Request,
            session.Step == SessionStep.Refresh ? StunMethod.Refresh : session.Step == SessionStep.ChannelBind ? StunMethod.ChannelBind : StunMethod.Allocate,
            StunMessageClass.Request,
            TransactionId.NewRandom());
        session.TransactionId = TransactionId.Read(session.Request.AsSpan(8, 12));
        switch (session.Step)
        {
            case SessionStep.Challenge or SessionStep.Allocate:
                writer.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
                break;
            case SessionStep.ChannelBind:
                writer.WriteChannelNumber(Channel);
                writer.WriteXorAddress(StunAttributeType.XorPeerAddress, _peer);
                break;
            case SessionStep.Refresh:
                writer.WriteUInt32(StunAttributeType.Lifetime, 0);
                break;
        }

        if (session.Step != SessionStep.Challenge)
        {
            writer.WriteText(StunAttributeType.Username, _user);
            writer.WriteText(StunAttributeType.Realm, _realm);
            writer.WriteText(StunAttributeType.Nonce, session.Nonce ?? "");
            writer.WriteMessageIntegrity(_key);
        }

        session.RequestLength = writer.Length;
        Transmit(session);
    }

    private void Transmit(Session session)
    {
        session.SentAt = Stopwatch.GetTimestamp();
        fixed (byte* data = session.Request)
        fixed (byte* name = _serverName)
        {
            Libc.sendto(session.Socket.Fd, data, (nuint)session.RequestLength, Libc.MSG_DONTWAIT, name, (uint)_serverNameLength);
        }
    }

    private static nint Recv(int fd, byte* buffer, int length)
    {
        Libc.IoVec iov = new() { Base = buffer, Length = (nuint)length };
        Libc.MsgHdr header = new() { Iov = &iov, IovLength = 1 };
        Libc.MMsgHdr message = new() { Header = header };
        int received = Libc.recvmmsg(fd, &message, 1, Libc.MSG_DONTWAIT, null);
        return received == 1 ? (nint)message.Length : -1;
    }

    /// <summary>One client: its socket and where its exchange stands.</summary>
    internal sealed class Session(SocketFd socket)
    {
        public SocketFd Socket { get; set; } = socket;

        public SessionStep Step { get; set; }

        public byte[] Request { get; } = new byte[256];

        public int RequestLength { get; set; }

        public TransactionId TransactionId { get; set; }

        public long SentAt { get; set; }

        public string? Nonce { get; set; }

        public TransportAddress Relayed { get; set; }
    }
}
