using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using TurnServer.Hosting.Lifecycle;

namespace TurnServer.Hosting.Tests.Lifecycle;

public sealed class SystemdNotifierTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-notify-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// Regression: MONOTONIC_USEC came from Environment.TickCount64, whole milliseconds of the coarse clock, which lags
    /// CLOCK_MONOTONIC (what systemd compares it with) by up to a few milliseconds. It must be CLOCK_MONOTONIC in µs:
    /// between two readings of Stopwatch, which on Linux reads that clock in nanoseconds.
    /// </summary>
    [Fact]
    public void Reloading_carries_the_monotonic_clock_in_microseconds()
    {
        Assert.Equal(1_000_000_000, Stopwatch.Frequency);
        string path = Path.Combine(_directory, "notify.sock");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(path));

        long before = Stopwatch.GetTimestamp() / 1000;
        new SystemdNotifier(path).Reloading();
        long after = Stopwatch.GetTimestamp() / 1000;

        var buffer = new byte[256];
        string message = Encoding.UTF8.GetString(buffer, 0, systemd.Receive(buffer));
        Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", message, StringComparison.Ordinal);
        long usec = long.Parse(message["RELOADING=1\nMONOTONIC_USEC=".Length..].TrimEnd('\n'), CultureInfo.InvariantCulture);
        Assert.InRange(usec, before, after);
    }
}
