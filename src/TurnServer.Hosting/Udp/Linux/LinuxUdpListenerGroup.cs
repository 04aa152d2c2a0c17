using System.Net;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Dtls;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// One UDP listening address served by the Linux engine: one SO_REUSEPORT socket per worker, all bound to the same
/// IP and port, so the kernel spreads clients over the workers by a hash of their address (a client always lands on
/// the same worker, which keeps its datagrams in order).
/// </summary>
internal sealed class LinuxUdpListenerGroup : IClientConnectionSource
{
    private LinuxUdpListenerGroup(int id, TurnEngine engine, SocketFd[] sockets, IPEndPoint localEndPoint, bool plainUdp, DtlsEndpoint? dtls)
    {
        Id = id;
        Engine = engine;
        PlainUdp = plainUdp;
        Dtls = dtls;
        Sockets = sockets;
        LocalEndPoint = localEndPoint;
        Local = TransportAddress.FromEndPoint(localEndPoint);
        IsIPv6 = localEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
    }

    /// <summary>The group's id, from <see cref="LinuxUdpEngine.NewGroupId"/>; indexes each worker's listener state.</summary>
    public int Id { get; }

    /// <summary>The TURN engine that handles this listener's packets.</summary>
    public TurnEngine Engine { get; }

    /// <summary>One socket per worker, all bound to <see cref="LocalEndPoint"/>; socket i belongs to worker i.</summary>
    public SocketFd[] Sockets { get; }

    /// <summary>Whether plain TURN over UDP is served here (false with <c>no-udp</c>).</summary>
    public bool PlainUdp { get; }

    /// <summary>Where DTLS datagrams go, or null when this address serves no DTLS.</summary>
    public DtlsEndpoint? Dtls { get; }

    /// <summary>The bound address and port (the real port when port 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The server transport address of every 5-tuple on this listener.</summary>
    public TransportAddress Local { get; }

    /// <summary>True for an IPv6 listener: client sockaddrs are written as sockaddr_in6.</summary>
    public bool IsIPv6 { get; }

    /// <summary>
    /// Binds <paramref name="count"/> sockets to <paramref name="endPoint"/> (port 0: the first socket's port for all),
    /// to serve plain TURN over UDP (<paramref name="plainUdp"/>), DTLS (<paramref name="dtls"/>) or both.
    /// Throws <see cref="System.Net.Sockets.SocketException"/> when the address cannot be bound, or the sockets cannot be
    /// tied to <paramref name="device"/> (<c>listening-device</c>, a NUL-terminated interface name).
    /// </summary>
    public static LinuxUdpListenerGroup Bind(int id, TurnEngine engine, IPEndPoint endPoint, int count, int bufferBytes, bool plainUdp, DtlsEndpoint? dtls, byte[]? device = null)
    {
        // With port 0 the kernel may hand the probe's port to another socket between the probe's close and the group's
        // binds: then another free port is tried. A named port taken meanwhile is an error, as it would be at once.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return BindOnce(id, engine, endPoint, count, bufferBytes, plainUdp, dtls, device);
            }
            catch (System.Net.Sockets.SocketException e) when (endPoint.Port == 0 && attempt < 8 && e.NativeErrorCode == Libc.EADDRINUSE)
            {
            }
        }
    }

    private static LinuxUdpListenerGroup BindOnce(int id, TurnEngine engine, IPEndPoint endPoint, int count, int bufferBytes, bool plainUdp, DtlsEndpoint? dtls, byte[]? device)
    {
        // SO_REUSEPORT would let this group silently share a port with another process of the same user (another
        // server instance) and split its clients. A plain bind first fails if anyone holds the port, as it should.
        using (SocketFd probe = SocketFd.TryOpen(endPoint, reusePort: false, dontFragment: false, bufferBytes: 0, out int probeError, device)
            ?? throw new System.Net.Sockets.SocketException(probeError))
        {
            if (endPoint.Port == 0)
            {
                endPoint = new IPEndPoint(endPoint.Address, probe.GetLocalPort());
            }
        }

        var sockets = new SocketFd[count];
        try
        {
            for (int i = 0; i < count; i++)
            {
                sockets[i] = SocketFd.TryOpen(endPoint, reusePort: true, dontFragment: false, bufferBytes, out int error, device)
                    ?? throw new System.Net.Sockets.SocketException(error);
            }
        }
        catch
        {
            foreach (SocketFd? socket in sockets)
            {
                socket?.Dispose();
            }

            throw;
        }

        return new LinuxUdpListenerGroup(id, engine, sockets, endPoint, plainUdp, dtls);
    }

    /// <inheritdoc />
    public ClientConnection GetConnection(in FiveTuple fiveTuple) => new LinuxUdpClientConnection(this, fiveTuple.ClientAddress);
}

/// <summary>
/// The way back to a UDP client of the Linux engine: queued on the calling worker's batch for this listener, so it
/// leaves with the worker's next sendmmsg from the same IP and port the client sent to (any socket of the group
/// has them).
/// </summary>
internal sealed class LinuxUdpClientConnection : ClientConnection
{
    private readonly LinuxUdpListenerGroup _group;
    private readonly byte[] _name = new byte[DatagramBatch.NameSize];
    private readonly int _nameLength;

    /// <summary>The way back to <paramref name="client"/> through <paramref name="group"/>; the client's sockaddr is built once here.</summary>
    public LinuxUdpClientConnection(LinuxUdpListenerGroup group, in TransportAddress client)
    {
        _group = group;
        _nameLength = SockAddr.Write(client, group.IsIPv6, _name);
    }

    /// <inheritdoc />
    public override TransportProtocol Protocol => TransportProtocol.Udp;

    /// <inheritdoc />
    public override bool Send(ReadOnlySpan<byte> frame)
    {
        ReadOnlySpan<byte> name = _name.AsSpan(0, _nameLength);
        LinuxUdpWorker? worker = LinuxUdpWorker.Current;
        if (worker is not null)
        {
            worker.QueueToClient(_group, frame, name);
            return true;
        }

        if (!_group.Sockets[0].SendFromAnyThread(frame, name))
        {
            _group.Engine.Counters.Drop(Core.Diagnostics.DropReason.SendFailed);
            return false;
        }

        return true;
    }
}
