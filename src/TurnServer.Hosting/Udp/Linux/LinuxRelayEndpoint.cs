using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// A relay socket of the Linux engine: a bare descriptor in one worker's epoll set. It has no receive loop or buffer
/// of its own; its worker reads it with recvmmsg into the worker's batch when it is readable. Sends made on the
/// owning worker join the worker's batch; from any other thread they go out at once.
/// </summary>
internal sealed class LinuxRelayEndpoint : RelayEndpoint
{
    private readonly LinuxUdpEngine _engine;
    private int _disposed;

    public LinuxRelayEndpoint(SocketFd socket, TransportAddress localAddress, LinuxUdpEngine engine)
        : base(localAddress)
    {
        Socket = socket;
        _engine = engine;
    }

    internal SocketFd Socket { get; }

    /// <summary>The allocation peer datagrams go to; set by <see cref="Start"/>.</summary>
    internal Allocation? Allocation { get; private set; }

    /// <summary>The worker whose epoll set holds the socket; set by <see cref="Start"/>.</summary>
    internal LinuxUdpWorker? Owner { get; private set; }

    /// <summary>The socket's slot in its worker's relay table, -1 when not registered. Worker thread only.</summary>
    internal int Slot { get; set; } = -1;

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public override bool SendTo(ReadOnlySpan<byte> payload, SocketAddress peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (IsDisposed)
        {
            return false;
        }

        ReadOnlySpan<byte> name = peer.Buffer.Span[..peer.Size];
        LinuxUdpWorker? current = LinuxUdpWorker.Current;
        return current is not null && current == Owner
            ? current.QueueToPeer(Socket.Fd, payload, name)
            : Socket.SendFromAnyThread(payload, name);
    }

    public override void Start(Allocation allocation)
    {
        Allocation = allocation;
        LinuxUdpWorker owner = _engine.ChooseWorker();
        Owner = owner;
        owner.AddRelay(this);
    }

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Only the owning worker closes a socket it polls, so a descriptor number is never reused under its feet.
        if (Owner is { } owner)
        {
            owner.RemoveRelay(this);
        }
        else
        {
            Socket.Dispose();
        }
    }
}
