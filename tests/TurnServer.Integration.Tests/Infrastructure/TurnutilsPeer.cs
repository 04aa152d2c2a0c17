using System.Net;
using System.Net.Sockets;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>Debian's turnutils_peer, a UDP echo server, on 127.0.0.1 and a free port; ready once it has echoed a probe.</summary>
internal sealed class TurnutilsPeer : IDisposable
{
    private readonly ExternalProcess _process;

    private TurnutilsPeer(ExternalProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Starts the peer on <paramref name="address"/> (127.0.0.1 by default, or ::1).</summary>
    public static async Task<TurnutilsPeer> StartAsync(string address = "127.0.0.1")
    {
        IPAddress ip = IPAddress.Parse(address);
        int port = LoopbackPorts.FreeServerPort(ip);
        var peer = new TurnutilsPeer(ExternalProcess.Start("turnutils_peer", ["-L", address, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]), port);
        using var probe = new Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        var buffer = new byte[64];
        var target = new IPEndPoint(ip, port);
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            probe.SendTo("probe"u8, target);
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                await probe.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(ip.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0), wait.Token);
                return peer;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                // not listening yet: the probe is retransmitted
            }
        }

        peer.Dispose();
        throw new TimeoutException("turnutils_peer did not echo within 10 s:\n" + peer._process.Output);
    }

    public void Dispose() => _process.Dispose();
}
