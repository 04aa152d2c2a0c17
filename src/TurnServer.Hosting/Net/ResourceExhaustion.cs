using System.Net.Sockets;
using TurnServer.Hosting.Udp.Linux;

namespace TurnServer.Hosting.Net;

/// <summary>
/// Socket failures that mean the process or the system ran out of descriptors or buffers, not that anything is wrong
/// with the address or port: retrying another port fails the same way, and an accept loop that retries at once spins a
/// core, since the connection it could not take stays queued.
/// </summary>
internal static class ResourceExhaustion
{
    /// <summary>How long an accept loop waits before trying again after <see cref="Is(SocketException)"/> (100 ms).</summary>
    public static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>True for EMFILE, ENFILE, ENOBUFS and ENOMEM as .NET reports them.</summary>
    public static bool Is(SocketException e) => e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable;

    /// <summary>True for the errno values EMFILE, ENFILE, ENOBUFS and ENOMEM.</summary>
    public static bool IsErrno(int errno) => errno is Libc.EMFILE or Libc.ENFILE or Libc.ENOBUFS or Libc.ENOMEM;

    /// <summary>
    /// Whether a failed bind was the port's fault (EADDRINUSE, EACCES: another program holds it, or it is reserved),
    /// so that another port may do; any other failure (an address or device gone: EADDRNOTAVAIL, ENODEV) is not.
    /// </summary>
    public static bool IsPortTaken(SocketException e) => e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied;

    /// <summary>As <see cref="IsPortTaken(SocketException)"/>, for an errno value.</summary>
    public static bool IsPortTakenErrno(int errno) => errno is Libc.EADDRINUSE or Libc.EACCES;
}
