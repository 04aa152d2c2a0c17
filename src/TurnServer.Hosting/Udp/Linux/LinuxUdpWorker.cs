using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// One thread, one epoll set: its socket of each listener and the relay sockets it owns. Each wake-up reads every
/// readable socket with recvmmsg (a batch per call), runs the protocol on each datagram, and queues what is to be
/// sent; once the ready sockets are done, the queued datagrams leave with one sendmmsg per destination socket.
/// Sockets are added and removed only on this thread (other threads post commands and wake it through an
/// eventfd), so the hot path takes no lock. No exception escapes the loop: a failing datagram is logged and dropped.
/// </summary>
internal sealed unsafe partial class LinuxUdpWorker : IDisposable
{
    /// <summary>Datagrams per recvmmsg/sendmmsg call (at most 32: <see cref="FlushPeers"/> keeps a 32-bit mask).</summary>
    public const int BatchSize = 32;

    /// <summary>Largest client datagram read, in bytes (a jumbo frame); longer ones are dropped as truncated.</summary>
    public const int MaxClientDatagram = 9216;

    private const int MaxEvents = 256;
    private const int ResponseBufferSize = 2048;

    /// <summary>
    /// Largest datagram the server sends a client: a message of up to <see cref="ResponseBufferSize"/> bytes (an
    /// answer, or a Data indication for the largest peer datagram), sealed in a DTLS record for DTLS clients.
    /// </summary>
    private const int MaxClientSend = ResponseBufferSize + Dtls.DtlsRecord.SealingOverhead;
    private const int ReadRounds = 4;
    private const uint GenerationMask = 0x3FFF_FFFF;
    private const ulong KindWake = 0;
    private const ulong KindListener = 1;
    private const ulong KindRelay = 2;

    [ThreadStatic]
    private static LinuxUdpWorker? t_current;

    private readonly int _index;
    private readonly ServerCounters _counters;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Action<LinuxUdpWorker>> _commands = new();
    private readonly Lock _stopSync = new();
    private readonly DatagramBatch _clientIn = new(BatchSize, MaxClientDatagram);
    private readonly DatagramBatch _peerIn = new(BatchSize, UdpRelayEndpoint.MaxPayload, Allocation.PeerDataHeadroom, Allocation.PeerDataTailroom);
    private readonly DatagramBatch _peerOut = new(BatchSize, MaxClientDatagram);
    private readonly Libc.MMsgHdr* _gather = (Libc.MMsgHdr*)NativeMemory.Alloc((nuint)(BatchSize * sizeof(Libc.MMsgHdr)));
    private readonly SegmentationOffload _gso = new(BatchSize) { Enabled = UdpEngineSelection.UseSegmentationOffload };
    private readonly byte[] _response = GC.AllocateUninitializedArray<byte>(ResponseBufferSize, pinned: true);
    private readonly SendScratch _scratch = new();
    private readonly List<ListenerState?> _listeners = [];
    private ListenerState?[] _byGroup = [];
    private LinuxRelayEndpoint?[] _relays = new LinuxRelayEndpoint?[64];
    private uint[] _generations = new uint[64];
    private readonly Stack<int> _freeSlots = new();
    private int _relayHighWater;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly Action<string>? _failed;
    private Thread? _thread;
    private volatile bool _stopping;
    private bool _stopped;

    /// <summary>
    /// Creates worker <paramref name="index"/> with its epoll set and wake-up eventfd; the thread starts with <see cref="Start"/>.
    /// <paramref name="failed"/> hears, from the worker's thread, that its epoll set failed and the thread ended.
    /// Throws <see cref="InvalidOperationException"/> when epoll or eventfd cannot be set up.
    /// </summary>
    public LinuxUdpWorker(int index, ServerCounters counters, ILogger logger, Action<string>? failed = null)
    {
        _index = index;
        _counters = counters;
        _logger = logger;
        _failed = failed;
        _epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        _wake = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (_epoll < 0 || _wake < 0 || !Libc.EpollAdd(_epoll, _wake, KindWake << 62))
        {
            throw new InvalidOperationException("epoll/eventfd setup failed, errno " + Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>The worker running on this thread, or null on any other thread.</summary>
    public static LinuxUdpWorker? Current => t_current;

    /// <summary>Relay sockets in this worker's epoll set.</summary>
    public int RelayCount { get; private set; }

    /// <summary>The epoll set's descriptor (tests break it to see a worker fail).</summary>
    internal int EpollDescriptor => _epoll;

    /// <summary>Bytes this worker's thread has allocated, as of its last wake-up (tests hold the relay path to zero).</summary>
    public long AllocatedBytes => Volatile.Read(ref _allocatedBytes);

    private long _allocatedBytes;

    /// <summary>Starts the worker's background thread ("turn-udp-" and its index) running the epoll loop.</summary>
    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "turn-udp-" + _index };
        _thread.Start();
    }

    /// <summary>Tells the thread to stop after its current wake-up and wakes it; does not wait (see <see cref="Join"/>).</summary>
    public void RequestStop()
    {
        _stopping = true;
        Wake();
    }

    /// <summary>Waits for the thread to end, then runs what was posted and closes every socket left.</summary>
    public void Join()
    {
        _thread?.Join();
        lock (_stopSync)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            RunCommands();

            // Under the lock: from here on, commands posted by other threads run inline, under it too, and must not
            // unregister a relay at the same time as this loop.
            for (int slot = 0; slot < _relayHighWater; slot++)
            {
                if (_relays[slot] is { } relay)
                {
                    Unregister(relay);
                }
            }

            // By index: CloseListener empties the slot, which a foreach would take for a modified list.
            for (int i = 0; i < _listeners.Count; i++)
            {
                if (_listeners[i] is { } listener)
                {
                    CloseListener(listener);
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Join();
        Libc.close(_epoll);
        Libc.close(_wake);
        _clientIn.Dispose();
        _peerIn.Dispose();
        _peerOut.Dispose();
        NativeMemory.Free(_gather);
        _gso.Dispose();
    }

    /// <summary>
    /// Posts to the thread: add this worker's <paramref name="socket"/> of <paramref name="group"/> to the epoll set (closed at
    /// once if stopped).
    /// </summary>
    public void AddListener(LinuxUdpListenerGroup group, SocketFd socket) => Post(w => w.RegisterListener(group, socket));

    /// <summary>
    /// Posts to the thread: send what is queued for <paramref name="group"/>'s clients, then take its socket out of the set and
    /// close it.
    /// </summary>
    public void RemoveListener(LinuxUdpListenerGroup group) => Post(w =>
    {
        if (group.Id < w._byGroup.Length && w._byGroup[group.Id] is { } state)
        {
            w.FlushClients();
            w.CloseListener(state);
        }
    });

    /// <summary>Adds a relay socket to the epoll set: at once on this worker's thread, else posted to it.</summary>
    public void AddRelay(LinuxRelayEndpoint relay)
    {
        if (t_current == this)
        {
            Register(relay);
        }
        else
        {
            Post(w => w.Register(relay));
        }
    }

    /// <summary>
    /// Sends the peer datagrams queued so far, then takes <paramref name="relay"/>'s socket out of the epoll set and closes it:
    /// at once on this worker's thread, else posted to it.
    /// </summary>
    public void RemoveRelay(LinuxRelayEndpoint relay)
    {
        if (t_current == this)
        {
            Unregister(relay);
        }
        else
        {
            Post(w => w.Unregister(relay));
        }
    }

    /// <summary>Queues a datagram for the client on this worker's socket of <paramref name="group"/>.</summary>
    public void QueueToClient(LinuxUdpListenerGroup group, ReadOnlySpan<byte> frame, ReadOnlySpan<byte> name)
    {
        ListenerState? state = group.Id < _byGroup.Length ? _byGroup[group.Id] : null;
        if (state is null)
        {
            if (!group.Sockets[0].SendFromAnyThread(frame, name))
            {
                _counters.Drop(DropReason.SendFailed);
            }

            return;
        }

        if (!state.Out.TryAdd(state.Socket.Fd, frame, name))
        {
            SendAll(state.Socket.Fd, state.Out.Headers, state.Out.Count);
            state.Out.Count = 0;
            if (!state.Out.TryAdd(state.Socket.Fd, frame, name))
            {
                _counters.Drop(DropReason.SendFailed);
            }
        }
    }

    /// <summary>Queues a datagram for a peer on relay socket <paramref name="fd"/>; false if it cannot be sent.</summary>
    public bool QueueToPeer(int fd, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> name)
    {
        if (_peerOut.TryAdd(fd, payload, name))
        {
            return true;
        }

        FlushPeers();
        return _peerOut.TryAdd(fd, payload, name);
    }

    private void Post(Action<LinuxUdpWorker> command)
    {
        lock (_stopSync)
        {
            if (_stopped)
            {
                command(this);
                return;
            }

            _commands.Enqueue(command);

            // Under the lock, so no wake-up is written after Join has stopped the worker and Dispose closed the eventfd.
            Wake();
        }
    }

    private void Wake()
    {
        ulong one = 1;
        Libc.write(_wake, (byte*)&one, sizeof(ulong));
    }

    private void Run()
    {
        t_current = this;
        int eventSize = Libc.EpollEventSize;
        int dataOffset = Libc.EpollDataOffset;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * eventSize));
        try
        {
            while (!_stopping)
            {
                int ready = Libc.epoll_wait(_epoll, events, MaxEvents, -1);
                if (ready < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }

                    // epoll_wait fails only on a broken set (EBADF, EINVAL, EFAULT): nothing this thread can mend,
                    // and its sockets' share of clients would go unanswered while the rest of the server runs.
                    LogEpollFailed(_logger, errno);
                    _failed?.Invoke($"UDP worker {_index}: epoll_wait failed, errno {errno}");
                    return;
                }

                for (int i = 0; i < ready; i++)
                {
                    ulong tag = *(ulong*)(events + (i * eventSize) + dataOffset);
                    try
                    {
                        Dispatch(tag);
                    }
                    catch (Exception e)
                    {
                        // A bug must cost a datagram, never the worker.
                        LogHandlerFailed(_logger, e, _index);
                    }
                }

                // Published before the flush, so whoever receives this wake-up's datagrams sees the count that covers them.
                Volatile.Write(ref _allocatedBytes, GC.GetAllocatedBytesForCurrentThread());
                try
                {
                    FlushPeers();
                    FlushClients();
                }
                catch (Exception e)
                {
                    LogHandlerFailed(_logger, e, _index);
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
            t_current = null;
        }
    }

    private void Dispatch(ulong tag)
    {
        int index = (int)(tag & 0xFFFF_FFFF);
        switch (tag >> 62)
        {
            case KindWake:
                ulong value;
                Libc.read(_wake, (byte*)&value, sizeof(ulong));
                RunCommands();
                break;
            case KindListener:
                if (index < _listeners.Count && _listeners[index] is { } listener)
                {
                    ReceiveFromClients(listener);
                }

                break;
            case KindRelay:
                uint generation = (uint)((tag >> 32) & GenerationMask);
                if (index < _relayHighWater && _relays[index] is { } relay && _generations[index] == generation)
                {
                    ReceiveFromPeers(relay);
                }

                break;
        }
    }

    private void RunCommands()
    {
        while (_commands.TryDequeue(out Action<LinuxUdpWorker>? command))
        {
            try
            {
                command(this);
            }
            catch (Exception e)
            {
                // A bug in one command must not leave the ones queued behind it (closing sockets) waiting.
                LogHandlerFailed(_logger, e, _index);
            }
        }
    }

    private void ReceiveFromClients(ListenerState listener)
    {
        DatagramBatch batch = _clientIn;
        LinuxUdpListenerGroup group = listener.Group;
        for (int round = 0; round < ReadRounds; round++)
        {
            batch.PrepareReceive(BatchSize);
            int received = Libc.recvmmsg(listener.Socket.Fd, batch.Headers, BatchSize, Libc.MSG_DONTWAIT, null);
            if (received <= 0)
            {
                return;
            }

            for (int i = 0; i < received; i++)
            {
                try
                {
                    HandleClientDatagram(group, batch, i);
                }
                catch (Exception e)
                {
                    LogHandlerFailed(_logger, e, _index);
                }
            }

            if (received < BatchSize)
            {
                return;
            }
        }
    }

    private void HandleClientDatagram(LinuxUdpListenerGroup group, DatagramBatch batch, int i)
    {
        if (batch.Truncated(i))
        {
            _counters.Drop(DropReason.Truncated);
            return;
        }

        if (!SockAddr.TryRead(batch.Name(i), out TransportAddress client))
        {
            _counters.Drop(DropReason.UnknownPacket);
            return;
        }

        ReadOnlySpan<byte> packet = batch.Received(i);
        PacketKind kind = PacketClassifier.Classify(packet);
        if (group.Dtls is { } dtls && (kind == PacketKind.Dtls || !group.PlainUdp))
        {
            dtls.Receive(packet, client);
            return;
        }

        var fiveTuple = new FiveTuple(client, group.Local, TransportProtocol.Udp);
        int length = group.Engine.ProcessMessage(kind, packet, fiveTuple, group, _scratch, _response);
        if (length < 0)
        {
            _counters.Drop(DropReason.UnknownPacket);
        }
        else if (length > 0)
        {
            QueueToClient(group, _response.AsSpan(0, length), batch.Name(i));
        }
    }

    private void ReceiveFromPeers(LinuxRelayEndpoint relay)
    {
        DatagramBatch batch = _peerIn;
        Allocation allocation = relay.Allocation!;
        for (int round = 0; round < ReadRounds; round++)
        {
            batch.PrepareReceive(BatchSize);
            int received = Libc.recvmmsg(relay.Socket.Fd, batch.Headers, BatchSize, Libc.MSG_DONTWAIT, null);
            if (received <= 0)
            {
                return;
            }

            for (int i = 0; i < received; i++)
            {
                if (batch.Truncated(i))
                {
                    _counters.Drop(DropReason.Truncated);
                }
                else if (SockAddr.TryRead(batch.Name(i), out TransportAddress peer))
                {
                    try
                    {
                        allocation.ForwardToClient(batch.WholeSlot(i), batch.Headroom, (int)batch.Headers[i].Length, peer);
                    }
                    catch (Exception e)
                    {
                        LogHandlerFailed(_logger, e, _index);
                    }
                }
            }

            if (received < BatchSize)
            {
                return;
            }
        }
    }

    /// <summary>Sends the queued peer datagrams: one sendmmsg per relay socket, each socket's datagrams in order.</summary>
    private void FlushPeers()
    {
        DatagramBatch batch = _peerOut;
        int count = batch.Count;
        if (count == 0)
        {
            return;
        }

        int* fds = batch.Fds;
        uint done = 0;
        for (int i = 0; i < count; i++)
        {
            if ((done & (1u << i)) != 0)
            {
                continue;
            }

            int fd = fds[i];
            int gathered = 0;
            for (int j = i; j < count; j++)
            {
                if ((done & (1u << j)) == 0 && fds[j] == fd)
                {
                    _gather[gathered++] = batch.Headers[j];
                    done |= 1u << j;
                }
            }

            SendAll(fd, _gather, gathered);
        }

        batch.Count = 0;
    }

    private void FlushClients()
    {
        foreach (ListenerState? listener in _listeners)
        {
            if (listener is not null && listener.Out.Count > 0)
            {
                SendAll(listener.Socket.Fd, listener.Out.Headers, listener.Out.Count);
                listener.Out.Count = 0;
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="count"/> messages on <paramref name="fd"/>: runs to one address merged by segmentation
    /// offload, then sendmmsg until every message went or failed; a failed one is counted and skipped. If the kernel
    /// refuses a segmented send, offload is turned off for this worker and those datagrams go one by one.
    /// </summary>
    private void SendAll(int fd, Libc.MMsgHdr* messages, int count)
    {
        if (!_gso.Enabled)
        {
            SendEach(fd, messages, count);
            return;
        }

        int merged = _gso.Coalesce(messages, count);
        int sent = 0;
        while (sent < merged)
        {
            int result = Libc.sendmmsg(fd, _gso.Headers + sent, (uint)(merged - sent), Libc.MSG_DONTWAIT);
            if (result > 0)
            {
                sent += result;
                continue;
            }

            int errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno == Libc.EINTR)
            {
                continue;
            }

            int segments = _gso.Count[sent];
            if (segments > 1 && errno is Libc.EINVAL or Libc.EIO or Libc.EOPNOTSUPP or Libc.EMSGSIZE)
            {
                // The run goes datagram by datagram, whether the kernel refuses offload or only this run (segments over
                // the route's MTU, a destination it refuses anyway such as port 0). Offload is turned off only when they
                // all go alone and the error cannot have been about size (EMSGSIZE, or EINVAL for segments that a route
                // with its family's minimum MTU would refuse), so one client's path or bad destination cannot turn it off.
                Libc.MsgHdr* header = &_gso.Headers[sent].Header;
                bool sizeError = SegmentationOffload.IsSizeError(errno, header->Iov->Length, new ReadOnlySpan<byte>(header->Name, (int)header->NameLength));
                if (SendEach(fd, messages + _gso.First[sent], segments) == 0 && !sizeError)
                {
                    _gso.Enabled = false;
                    LogOffloadOff(_logger, errno);
                }
            }
            else
            {
                for (int k = 0; k < segments; k++)
                {
                    _counters.Drop(DropReason.SendFailed);
                }
            }

            sent++;
        }
    }

    /// <summary>
    /// sendmmsg without offload until every message went or failed; a failed one is counted and skipped. Returns how
    /// many failed.
    /// </summary>
    private int SendEach(int fd, Libc.MMsgHdr* messages, int count)
    {
        int failed = 0;
        int sent = 0;
        while (sent < count)
        {
            int result = Libc.sendmmsg(fd, messages + sent, (uint)(count - sent), Libc.MSG_DONTWAIT);
            if (result > 0)
            {
                sent += result;
            }
            else if (result < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
            {
                continue;
            }
            else
            {
                _counters.Drop(DropReason.SendFailed);
                failed++;
                sent++;
            }
        }

        return failed;
    }

    private void RegisterListener(LinuxUdpListenerGroup group, SocketFd socket)
    {
        if (_stopped)
        {
            socket.Dispose();
            return;
        }

        var state = new ListenerState(group, socket, _listeners.Count);
        if (!Libc.EpollAdd(_epoll, socket.Fd, (KindListener << 62) | (uint)state.Index))
        {
            LogEpollFailed(_logger, Marshal.GetLastPInvokeError());
        }

        _listeners.Add(state);
        if (group.Id >= _byGroup.Length)
        {
            Array.Resize(ref _byGroup, group.Id + 1);
        }

        _byGroup[group.Id] = state;
    }

    private void CloseListener(ListenerState state)
    {
        Libc.EpollDelete(_epoll, state.Socket.Fd);
        state.Socket.Dispose();
        state.Out.Dispose();
        _byGroup[state.Group.Id] = null;

        // Listener tags are list indexes, so the slot stays (empty) rather than shifting the others.
        _listeners[state.Index] = null;
    }

    private void Register(LinuxRelayEndpoint relay)
    {
        if (_stopped || relay.IsDisposed)
        {
            relay.CloseSocket();
            return;
        }

        int slot;
        if (_freeSlots.Count > 0)
        {
            slot = _freeSlots.Pop();
        }
        else
        {
            slot = _relayHighWater++;
            if (slot == _relays.Length)
            {
                Array.Resize(ref _relays, slot * 2);
                Array.Resize(ref _generations, slot * 2);
            }
        }

        _relays[slot] = relay;
        relay.Slot = slot;
        ulong tag = (KindRelay << 62) | ((ulong)_generations[slot] << 32) | (uint)slot;
        if (!Libc.EpollAdd(_epoll, relay.Socket.Fd, tag))
        {
            LogEpollFailed(_logger, Marshal.GetLastPInvokeError());
        }

        RelayCount++;
    }

    private void Unregister(LinuxRelayEndpoint relay)
    {
        int slot = relay.Slot;
        if (slot < 0 || slot >= _relayHighWater || _relays[slot] != relay)
        {
            // Never registered (posted registration not run yet cannot happen: commands run in order), or done.
            relay.CloseSocket();
            return;
        }

        // Datagrams queued on this socket go first; then the socket leaves the set and closes.
        FlushPeers();
        Libc.EpollDelete(_epoll, relay.Socket.Fd);
        relay.CloseSocket();
        _relays[slot] = null;
        _generations[slot] = (_generations[slot] + 1) & GenerationMask; // the epoll tag holds 30 bits of it
        relay.Slot = -1;
        _freeSlots.Push(slot);
        RelayCount--;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "UDP worker: the kernel refused segmentation offload (errno {Errno}); sending datagrams one by one")]
    private static partial void LogOffloadOff(ILogger logger, int errno);

    [LoggerMessage(Level = LogLevel.Error, Message = "UDP worker: epoll failed, errno {Errno}")]
    private static partial void LogEpollFailed(ILogger logger, int errno);

    [LoggerMessage(Level = LogLevel.Error, Message = "UDP worker {Worker}: handling a datagram failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, int worker);

    /// <summary>This worker's socket of one listener group and the batch of datagrams queued on it.</summary>
    private sealed class ListenerState(LinuxUdpListenerGroup group, SocketFd socket, int index)
    {
        /// <summary>The listener group this socket belongs to.</summary>
        public LinuxUdpListenerGroup Group { get; } = group;

        /// <summary>This worker's SO_REUSEPORT socket of the group.</summary>
        public SocketFd Socket { get; } = socket;

        /// <summary>The state's slot in the worker's listener list, which is also its epoll tag.</summary>
        public int Index { get; } = index;

        /// <summary>Datagrams queued for clients on <see cref="Socket"/> (up to <see cref="MaxClientSend"/> bytes each), sent at the end of each wake-up.</summary>
        public DatagramBatch Out { get; } = new(BatchSize, MaxClientSend);
    }
}
