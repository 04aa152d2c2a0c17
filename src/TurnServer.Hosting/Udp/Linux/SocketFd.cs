using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using TurnServer.Stun;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// A UDP socket file descriptor. The owning worker thread uses <see cref="Fd"/> directly (only it closes the socket);
/// any other thread goes through the SafeHandle reference count, so a descriptor number is never reused under it.
/// </summary>
internal sealed unsafe class SocketFd : SafeHandle
{
    private SocketFd(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    /// <inheritdoc />
    public override bool IsInvalid => handle == -1;

    /// <summary>The raw descriptor.</summary>
    public int Fd => (int)handle;

    /// <summary>
    /// A non-blocking UDP socket bound to <paramref name="endPoint"/> (and to the network interface <paramref name="device"/>,
    /// a NUL-terminated name, when given), or null with the errno in <paramref name="error"/> (EADDRINUSE when the port
    /// is taken, ENODEV or EPERM when the device cannot be used).
    /// </summary>
    public static SocketFd? TryOpen(IPEndPoint endPoint, bool reusePort, bool dontFragment, int bufferBytes, out int error, byte[]? device = null)
    {
        bool v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        int fd = Libc.socket(v6 ? Libc.AF_INET6 : Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, Libc.IPPROTO_UDP);
        if (fd < 0)
        {
            error = Marshal.GetLastPInvokeError();
            return null;
        }

        var socket = new SocketFd(fd);
        if (v6)
        {
            Libc.SetOption(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, 1);
        }

        if (reusePort)
        {
            Libc.SetOption(fd, Libc.SOL_SOCKET, Libc.SO_REUSEPORT, 1);
        }

        if (dontFragment)
        {
            Libc.SetOption(fd, v6 ? Libc.IPPROTO_IPV6 : Libc.IPPROTO_IP, v6 ? Libc.IPV6_MTU_DISCOVER : Libc.IP_MTU_DISCOVER, Libc.IP_PMTUDISC_DO);
        }

        if (bufferBytes > 0)
        {
            Libc.SetOption(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, bufferBytes);
            Libc.SetOption(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, bufferBytes);
        }

        byte* name = stackalloc byte[DatagramBatch.NameSize];
        int length = SockAddr.Write(TransportAddress.FromEndPoint(endPoint), v6, new Span<byte>(name, DatagramBatch.NameSize));
        if ((device is not null && !Libc.SetDevice(fd, device)) || Libc.bind(fd, name, (uint)length) != 0)
        {
            error = Marshal.GetLastPInvokeError();
            socket.Dispose();
            return null;
        }

        error = 0;
        return socket;
    }

    /// <summary>The bound port.</summary>
    public int GetLocalPort()
    {
        byte* name = stackalloc byte[DatagramBatch.NameSize];
        uint length = DatagramBatch.NameSize;
        return Libc.getsockname(Fd, name, &length) == 0 ? BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(name + 2, 2)) : 0;
    }

    /// <summary>One sendto from a thread that does not own the socket; false when closed or the send failed.</summary>
    public bool SendFromAnyThread(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> name)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            fixed (byte* data = datagram)
            fixed (byte* address = name)
            {
                return Libc.sendto(Fd, data, (nuint)datagram.Length, Libc.MSG_DONTWAIT, address, (uint)name.Length) >= 0;
            }
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}

/// <summary>Linux sockaddr_in / sockaddr_in6 in and out of <see cref="TransportAddress"/>, without allocating.</summary>
internal static class SockAddr
{
    /// <summary>Reads a sockaddr the kernel wrote; false for other families or short buffers.</summary>
    public static bool TryRead(ReadOnlySpan<byte> name, out TransportAddress address)
    {
        if (name.Length >= 16)
        {
            ushort family = BinaryPrimitives.ReadUInt16LittleEndian(name);
            ushort port = BinaryPrimitives.ReadUInt16BigEndian(name[2..]);
            if (family == Libc.AF_INET)
            {
                address = TransportAddress.FromBytes(name.Slice(4, 4), port);
                return true;
            }

            if (family == Libc.AF_INET6 && name.Length >= 24)
            {
                address = TransportAddress.FromBytes(name.Slice(8, 16), port);
                return true;
            }
        }

        address = default;
        return false;
    }

    /// <summary>Writes <paramref name="address"/> as a sockaddr for a socket of the given family (IPv4 is written mapped into IPv6 sockets); returns its length.</summary>
    public static int Write(in TransportAddress address, bool v6Socket, Span<byte> destination)
    {
        destination[..DatagramBatch.NameSize].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)(v6Socket ? Libc.AF_INET6 : Libc.AF_INET));
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], address.Port);
        if (!v6Socket)
        {
            address.WriteAddressBytes(destination[4..]);
            return 16;
        }

        if (address.IsIPv4)
        {
            destination[18] = 0xFF;
            destination[19] = 0xFF;
            address.WriteAddressBytes(destination[20..]);
        }
        else
        {
            address.WriteAddressBytes(destination[8..]);
        }

        return 28;
    }
}
