using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// sd_notify(3) for <c>Type=notify</c> units (coTURN's unit is one): sends <c>READY=1</c> once every listener is up,
/// <c>RELOADING=1</c>/<c>READY=1</c> around a reload and <c>STOPPING=1</c> on the way out, as datagrams to the Unix
/// socket systemd names in <c>NOTIFY_SOCKET</c> (a leading <c>@</c> means the abstract namespace). Without that
/// variable it does nothing.
/// </summary>
internal sealed partial class SystemdNotifier
{
    /// <summary>CLOCK_MONOTONIC, clock_gettime's clock ID on Linux.</summary>
    private const int ClockMonotonic = 1;

    private readonly string? _socketPath;

    /// <summary>
    /// Notifies the Unix datagram socket at <paramref name="socketPath"/> (<c>@</c>: abstract namespace); null or empty: does
    /// nothing.
    /// </summary>
    public SystemdNotifier(string? socketPath) => _socketPath = string.IsNullOrEmpty(socketPath) ? null : socketPath;

    /// <summary>The notifier for the socket named in <c>NOTIFY_SOCKET</c>, which does nothing when the variable is not set.</summary>
    public static SystemdNotifier FromEnvironment() => new(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    /// <summary>Sends <c>READY=1</c> with <c>MAINPID</c>: start-up or a reload is done.</summary>
    public void Ready() => Send("READY=1\nMAINPID=" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");

    /// <summary>Sends <c>RELOADING=1</c> with <c>MONOTONIC_USEC</c> (CLOCK_MONOTONIC in microseconds): a reload has begun.</summary>
    public void Reloading()
    {
        // Only under systemd, that is Linux, where clock ID 1 is CLOCK_MONOTONIC.
        if (_socketPath is not null)
        {
            Send("RELOADING=1\nMONOTONIC_USEC=" + MonotonicMicroseconds().ToString(CultureInfo.InvariantCulture) + "\n");
        }
    }

    /// <summary>Sends <c>STOPPING=1</c>: the server is shutting down.</summary>
    public void Stopping() => Send("STOPPING=1\n");

    /// <summary>
    /// CLOCK_MONOTONIC, the clock systemd compares MONOTONIC_USEC with, read directly: Environment.TickCount64 is the
    /// coarse clock in whole milliseconds, behind it by up to a few.
    /// </summary>
    private static long MonotonicMicroseconds()
    {
        _ = clock_gettime(ClockMonotonic, out Timespec now);
        return (now.Seconds * 1_000_000) + (now.Nanoseconds / 1000);
    }

    /// <summary>struct timespec on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc")]
    private static partial int clock_gettime(int clock, out Timespec time);

    private void Send(string message)
    {
        if (_socketPath is null)
        {
            return;
        }

        string path = _socketPath[0] == '@' ? "\0" + _socketPath[1..] : _socketPath;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(message), new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            // systemd went away or the variable is stale: notification is advisory.
        }
    }
}
