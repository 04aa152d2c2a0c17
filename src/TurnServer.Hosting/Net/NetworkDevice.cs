using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using TurnServer.Hosting.Udp.Linux;

namespace TurnServer.Hosting.Net;

/// <summary>
/// coTURN's <c>listening-device</c> and <c>relay-device</c>: SO_BINDTODEVICE (Linux), so a socket takes and sends
/// traffic only through one network interface, whatever the routing table says. Set before bind, as the kernel
/// matches SO_REUSEPORT groups and port conflicts per device.
/// </summary>
internal static class NetworkDevice
{
    /// <summary>IFNAMSIZ: the longest interface name is 15 bytes.</summary>
    public const int MaxNameBytes = 15;

    /// <summary>
    /// Null when <paramref name="name"/> can be a device of this machine; otherwise why not (not Linux, too long, no
    /// interface of that name), for the configuration error.
    /// </summary>
    public static string? Check(string name)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "binding to a device is supported on Linux only";
        }

        if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            return $"an interface name has 1 to {MaxNameBytes} bytes";
        }

        return NetworkInterface.GetAllNetworkInterfaces().Any(i => i.Name == name)
            ? null
            : "no network interface of that name (see 'ip link')";
    }

    /// <summary>Binds <paramref name="socket"/> to <paramref name="device"/>, if one is given. Throws <see cref="SocketException"/> (ENODEV, EPERM).</summary>
    public static void Apply(Socket socket, string? device)
    {
        if (device is not null)
        {
            socket.SetRawSocketOption(Libc.SOL_SOCKET, Libc.SO_BINDTODEVICE, Value(device));
        }
    }

    /// <summary>The option value for <paramref name="device"/>: its name in UTF-8 and a NUL (at most IFNAMSIZ, 16 bytes).</summary>
    public static byte[] Value(string device)
    {
        byte[] value = new byte[Encoding.UTF8.GetByteCount(device) + 1];
        Encoding.UTF8.GetBytes(device, value);
        return value;
    }
}
