using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace TurnServer.Hosting.Lifecycle;

/// <summary>
/// sd_notify(3) for <c>Type=notify</c> units (coTURN's unit is one): sends <c>READY=1</c> once every listener is up,
/// <c>RELOADING=1</c>/<c>READY=1</c> around a reload and <c>STOPPING=1</c> on the way out, as datagrams to the Unix
/// socket systemd names in <c>NOTIFY_SOCKET</c> (a leading <c>@</c> means the abstract namespace). Without that
/// variable it does nothing.
/// </summary>
internal sealed class SystemdNotifier
{
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

    /// <summary>Sends <c>RELOADING=1</c> with <c>MONOTONIC_USEC</c> (the monotonic clock in microseconds): a reload has begun.</summary>
    public void Reloading() =>
        Send("RELOADING=1\nMONOTONIC_USEC=" + (Environment.TickCount64 * 1000).ToString(CultureInfo.InvariantCulture) + "\n");

    /// <summary>Sends <c>STOPPING=1</c>: the server is shutting down.</summary>
    public void Stopping() => Send("STOPPING=1\n");

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
