using System.Runtime.InteropServices;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// The few Linux system calls the batched UDP engine needs, with the x86-64/arm64 layouts of their structures.
/// recvmmsg/sendmmsg move up to a batch of datagrams per system call, and epoll lets one thread serve thousands of
/// relay sockets without a receive loop (and buffer) per socket; .NET's Socket offers neither.
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>AF_INET: IPv4 address family, for socket(2) and the sin_family of a 16-byte sockaddr_in.</summary>
    public const int AF_INET = 2;

    /// <summary>AF_INET6: IPv6 address family, for socket(2) and the sin6_family of a 28-byte sockaddr_in6.</summary>
    public const int AF_INET6 = 10;

    /// <summary>SOCK_DGRAM: socket(2) type for the UDP listener and relay sockets.</summary>
    public const int SOCK_DGRAM = 2;

    /// <summary>SOCK_NONBLOCK: socket(2) type flag; the sockets never block, since one worker thread serves all of them.</summary>
    public const int SOCK_NONBLOCK = 0x800;

    /// <summary>SOCK_CLOEXEC: socket(2) type flag; the descriptor is closed on exec.</summary>
    public const int SOCK_CLOEXEC = 0x80000;

    /// <summary>IPPROTO_UDP: the protocol argument of socket(2).</summary>
    public const int IPPROTO_UDP = 17;

    /// <summary>SOL_SOCKET: setsockopt(2) level of the socket-wide options (SO_RCVBUF, SO_SNDBUF, SO_REUSEPORT).</summary>
    public const int SOL_SOCKET = 1;

    /// <summary>SO_RCVBUF: kernel receive buffer size in bytes (the kernel doubles it and caps it at net.core.rmem_max).</summary>
    public const int SO_RCVBUF = 8;

    /// <summary>SO_SNDBUF: kernel send buffer size in bytes (the kernel doubles it and caps it at net.core.wmem_max).</summary>
    public const int SO_SNDBUF = 7;

    /// <summary>SO_REUSEPORT: lets each worker bind its own socket to one listener address; the kernel spreads clients by address hash.</summary>
    public const int SO_REUSEPORT = 15;

    /// <summary>SO_BINDTODEVICE: ties a socket to one network interface (<c>listening-device</c>, <c>relay-device</c>).</summary>
    public const int SO_BINDTODEVICE = 25;

    /// <summary>IPPROTO_IP: setsockopt(2) level of the IPv4 options (IP_MTU_DISCOVER).</summary>
    public const int IPPROTO_IP = 0;

    /// <summary>IPPROTO_IPV6: setsockopt(2) level of the IPv6 options (IPV6_V6ONLY, IPV6_MTU_DISCOVER).</summary>
    public const int IPPROTO_IPV6 = 41;

    /// <summary>IP_MTU_DISCOVER: IPv4 path MTU discovery mode; set to <see cref="IP_PMTUDISC_DO"/> for DONT-FRAGMENT relays.</summary>
    public const int IP_MTU_DISCOVER = 10;

    /// <summary>IPV6_MTU_DISCOVER: IPv6 path MTU discovery mode; set to <see cref="IP_PMTUDISC_DO"/> for DONT-FRAGMENT relays.</summary>
    public const int IPV6_MTU_DISCOVER = 23;

    /// <summary>IPV6_V6ONLY: set on every IPv6 socket, so it takes no IPv4-mapped traffic and IPv4 can be bound separately.</summary>
    public const int IPV6_V6ONLY = 26;

    /// <summary>IP_PMTUDISC_DO: never fragment (DF bit set); how a relay honours DONT-FRAGMENT (RFC 8656 section 18.9).</summary>
    public const int IP_PMTUDISC_DO = 2;

    /// <summary>MSG_DONTWAIT: recvmmsg/sendmmsg/sendto flag; return at once instead of blocking when nothing can be moved.</summary>
    public const int MSG_DONTWAIT = 0x40;

    /// <summary>MSG_TRUNC: set in msg_flags by recvmmsg when a datagram was longer than its slot; such datagrams are dropped.</summary>
    public const int MSG_TRUNC = 0x20;

    /// <summary>EPOLL_CLOEXEC: epoll_create1(2) flag; the epoll descriptor is closed on exec.</summary>
    public const int EPOLL_CLOEXEC = 0x80000;

    /// <summary>EPOLL_CTL_ADD: epoll_ctl(2) operation adding a descriptor to the set.</summary>
    public const int EPOLL_CTL_ADD = 1;

    /// <summary>EPOLL_CTL_DEL: epoll_ctl(2) operation removing a descriptor from the set.</summary>
    public const int EPOLL_CTL_DEL = 2;

    /// <summary>EPOLLIN: epoll event bit, the descriptor is readable (level-triggered).</summary>
    public const uint EPOLLIN = 0x001;

    /// <summary>EFD_CLOEXEC: eventfd(2) flag; the descriptor is closed on exec.</summary>
    public const int EFD_CLOEXEC = 0x80000;

    /// <summary>EFD_NONBLOCK: eventfd(2) flag; reading the worker's wake-up eventfd never blocks.</summary>
    public const int EFD_NONBLOCK = 0x800;

    /// <summary>errno EINTR: the call was interrupted by a signal; retried.</summary>
    public const int EINTR = 4;

    /// <summary>errno ENOMEM: the kernel could not allocate memory for the socket.</summary>
    public const int ENOMEM = 12;

    /// <summary>errno ENFILE: the system-wide limit on open files is reached.</summary>
    public const int ENFILE = 23;

    /// <summary>errno EMFILE: the process's limit on open descriptors (RLIMIT_NOFILE, <c>ulimit -n</c>) is reached.</summary>
    public const int EMFILE = 24;

    /// <summary>errno ENOBUFS: the kernel is out of socket buffer space.</summary>
    public const int ENOBUFS = 105;

    /// <summary>errno EIO: a segmented (UDP_SEGMENT) sendmmsg failed in the driver; the run is resent datagram by datagram.</summary>
    public const int EIO = 5;

    /// <summary>errno EINVAL: the kernel rejected a segmented (UDP_SEGMENT) sendmmsg; the run is resent datagram by datagram.</summary>
    public const int EINVAL = 22;

    /// <summary>errno EOPNOTSUPP: the kernel or device does not support UDP_SEGMENT; the run is resent datagram by datagram.</summary>
    public const int EOPNOTSUPP = 95;

    /// <summary>errno EMSGSIZE: since Linux 6.14, a segmented send whose segments exceed the route's MTU; resent datagram by datagram.</summary>
    public const int EMSGSIZE = 90;

    /// <summary>errno EADDRINUSE: bind(2) failed because the address and port are taken.</summary>
    public const int EADDRINUSE = 98;

    /// <summary>errno EACCES: bind(2) refused a port the process may not use.</summary>
    public const int EACCES = 13;

    /// <summary>sizeof(struct epoll_event): packed on x86-64 (12 bytes), naturally aligned elsewhere (16).</summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Offset of epoll_event.data.</summary>
    public static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>True where this engine's structure layouts are right: Linux on x86-64 or arm64.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>struct iovec: one buffer of a msghdr's scatter/gather list.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        /// <summary>iov_base: start of the buffer.</summary>
        public byte* Base;

        /// <summary>iov_len: buffer length in bytes (on send, the datagram's length).</summary>
        public nuint Length;
    }

    /// <summary>struct msghdr: one datagram's address, buffers, ancillary data and flags.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        /// <summary>msg_name: the peer's sockaddr (source on receive, destination on send).</summary>
        public byte* Name;

        /// <summary>msg_namelen: room for <see cref="Name"/> in bytes before recvmmsg, its length after.</summary>
        public uint NameLength;

        /// <summary>msg_iov: the buffers of the datagram.</summary>
        public IoVec* Iov;

        /// <summary>msg_iovlen: how many <see cref="IoVec"/> entries <see cref="Iov"/> holds.</summary>
        public nuint IovLength;

        /// <summary>msg_control: ancillary data (cmsg), here the UDP_SEGMENT size of a segmented send; null when none.</summary>
        public void* Control;

        /// <summary>msg_controllen: bytes of ancillary data at <see cref="Control"/>.</summary>
        public nuint ControlLength;

        /// <summary>msg_flags: set by recvmmsg, e.g. <see cref="MSG_TRUNC"/>.</summary>
        public int Flags;
    }

    /// <summary>struct mmsghdr: one entry of a recvmmsg/sendmmsg batch.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        /// <summary>msg_hdr: the datagram's message header.</summary>
        public MsgHdr Header;

        /// <summary>msg_len: bytes received (recvmmsg) or sent (sendmmsg) for this entry.</summary>
        public uint Length;
    }

    /// <summary>socket(2): creates a UDP socket for a listener or relay; returns the descriptor, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    /// <summary>bind(2): binds <paramref name="fd"/> to the sockaddr at <paramref name="address"/>; 0, or -1 with errno (e.g. EADDRINUSE).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int fd, byte* address, uint length);

    /// <summary>getsockname(2): writes the bound sockaddr (to learn the port after binding port 0); 0, or -1 with errno.</summary>
    /// <param name="fd">The socket.</param>
    /// <param name="address">Receives the sockaddr.</param>
    /// <param name="length">In: room at <paramref name="address"/> in bytes; out: the sockaddr's length.</param>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, byte* address, uint* length);

    /// <summary>setsockopt(2): sets a socket option from <paramref name="length"/> bytes at <paramref name="value"/>; 0, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, int* value, uint length);

    /// <summary>close(2): closes a socket, epoll or eventfd descriptor; 0, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    /// <summary>RLIMIT_NOFILE: the getrlimit(2) resource that limits open descriptors (<c>ulimit -n</c>, systemd's LimitNOFILE).</summary>
    public const int RLIMIT_NOFILE = 7;

    /// <summary>getrlimit(2): reads a limit as struct rlimit, two 64-bit values (soft, then hard); 0, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrlimit(int resource, ulong* limits);

    /// <summary>setrlimit(2): sets a limit from struct rlimit (soft, then hard); 0, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int setrlimit(int resource, ulong* limits);

    /// <summary>recvmmsg(2): reads up to <paramref name="count"/> datagrams in one call; returns how many, or -1 with errno.</summary>
    /// <param name="fd">The socket.</param>
    /// <param name="messages">The batch's headers; each msg_len receives its datagram's length.</param>
    /// <param name="count">Entries at <paramref name="messages"/>.</param>
    /// <param name="flags">Here <see cref="MSG_DONTWAIT"/>.</param>
    /// <param name="timeout">A struct timespec*; always null here.</param>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int recvmmsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    /// <summary>sendmmsg(2): sends up to <paramref name="count"/> datagrams in one call; returns how many went, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int sendmmsg(int fd, MMsgHdr* messages, uint count, int flags);

    /// <summary>sendto(2): sends one datagram to the sockaddr at <paramref name="address"/>; returns bytes sent, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendto(int fd, byte* buffer, nuint length, int flags, byte* address, uint addressLength);

    /// <summary>epoll_create1(2): creates a worker's epoll set; returns its descriptor, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    /// <summary>
    /// epoll_ctl(2): adds or removes <paramref name="fd"/> (<paramref name="op"/>); <paramref name="ev"/> is a struct
    /// epoll_event; 0, or -1 with errno.
    /// </summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    /// <summary>
    /// epoll_wait(2): waits up to <paramref name="timeout"/> milliseconds (-1: forever) for ready descriptors, writing up to
    /// <paramref name="maxEvents"/> epoll_event structures (<see cref="EpollEventSize"/> bytes each); returns how many, or -1 with errno.
    /// </summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxEvents, int timeout);

    /// <summary>eventfd(2): creates the counter descriptor other threads write to wake a worker; returns it, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initial, int flags);

    /// <summary>write(2): here adds an 8-byte count to a worker's eventfd to wake it; returns bytes written, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);

    /// <summary>read(2): here reads (and resets) a worker's 8-byte eventfd counter; returns bytes read, or -1 with errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    /// <summary>Sets SO_BINDTODEVICE to <paramref name="device"/> (a NUL-terminated interface name); false on failure.</summary>
    public static bool SetDevice(int fd, byte[] device)
    {
        fixed (byte* name = device)
        {
            return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, (int*)name, (uint)device.Length) == 0;
        }
    }

    /// <summary>Sets an int socket option; false on failure.</summary>
    public static bool SetOption(int fd, int level, int name, int value) => setsockopt(fd, level, name, &value, sizeof(int)) == 0;

    /// <summary>Adds <paramref name="fd"/> to an epoll set for input, tagging its events with <paramref name="data"/>.</summary>
    public static bool EpollAdd(int epfd, int fd, ulong data)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = EPOLLIN;
        *(ulong*)(ev + EpollDataOffset) = data;
        return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev) == 0;
    }

    /// <summary>Removes <paramref name="fd"/> from an epoll set.</summary>
    public static void EpollDelete(int epfd, int fd)
    {
        byte* ev = stackalloc byte[16];
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ev);
    }
}
