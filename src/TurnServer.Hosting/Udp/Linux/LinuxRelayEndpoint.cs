using System.Net;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Net;
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
    private readonly DescriptorBudget _descriptors;
    private int _disposed;

    /// <summary>
    /// Wraps a bound relay <paramref name="socket"/> at <paramref name="localAddress"/>, whose descriptor was taken from
    /// <paramref name="descriptors"/> and goes back on <see cref="Dispose"/>; it joins a worker of <paramref name="engine"/>
    /// on <see cref="Start"/>.
    /// </summary>
    public LinuxRelayEndpoint(SocketFd socket, TransportAddress localAddress, LinuxUdpEngine engine, DescriptorBudget descriptors)
        : base(localAddress)
    {
        Socket = socket;
        _engine = engine;
        _descriptors = descriptors;
    }

    /// <summary>The relay socket; closed by its owning worker (or here, if it never had one).</summary>
    internal SocketFd Socket { get; }

    /// <summary>The allocation peer datagrams go to; set by <see cref="Start"/>.</summary>
    internal Allocation? Allocation { get; private set; }

    /// <summary>The worker whose epoll set holds the socket; set by <see cref="Start"/>.</summary>
    internal LinuxUdpWorker? Owner { get; private set; }

    /// <summary>The socket's slot in its worker's relay table, -1 when not registered. Worker thread only.</summary>
    internal int Slot { get; set; } = -1;

    /// <summary>True once <see cref="Dispose"/> has run; sends then fail and a pending registration closes the socket.</summary>
    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <inheritdoc />
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

    /// <inheritdoc />
    public override void Start(Allocation allocation)
    {
        Allocation = allocation;

        // A dual allocation's two relays share one worker, as its traffic counters and bandwidth window have one writer each way.
        LinuxUdpWorker owner = SiblingOwner(allocation) ?? _engine.ChooseWorker();
        Owner = owner;
        owner.AddRelay(this);
    }

    private LinuxUdpWorker? SiblingOwner(Allocation allocation)
    {
        foreach (RelayEndpoint? relay in (ReadOnlySpan<RelayEndpoint?>)[allocation.RelayV4, allocation.RelayV6])
        {
            if (relay is LinuxRelayEndpoint { Owner: { } owner } sibling && sibling != this)
            {
                return owner;
            }
        }

        return null;
    }

    /// <summary>Closes the socket; its owning worker's thread only, once the socket is out of the epoll set.</summary>
    internal void CloseSocket()
    {
        Socket.Dispose();
        _engine.Closed(LocalAddress);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Only the owning worker closes a socket it polls, so a descriptor number is never reused under its feet.
        if (Owner is { } owner)
        {
            if (LinuxUdpWorker.Current != owner)
            {
                _engine.ClosePosted(LocalAddress);
            }

            owner.RemoveRelay(this);
        }
        else
        {
            Socket.Dispose();
        }

        // The owner closes the socket moments later; the budget's reserve covers the gap.
        _descriptors.Return();
    }
}
