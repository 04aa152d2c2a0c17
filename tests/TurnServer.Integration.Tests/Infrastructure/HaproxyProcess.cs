using System.Globalization;
using System.Net;
using System.Net.Sockets;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// Debian's haproxy as a TCP load balancer on 127.0.0.1 and a free port, forwarding every connection to one backend
/// with a PROXY protocol version 2 header (<c>send-proxy-v2</c>); ready once its port accepts a connection.
/// </summary>
internal sealed class HaproxyProcess : IDisposable
{
    private readonly ExternalProcess _process;
    private readonly string _directory;

    private HaproxyProcess(ExternalProcess process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        EndPoint = new IPEndPoint(IPAddress.Loopback, port);
    }

    /// <summary>Where clients connect.</summary>
    public IPEndPoint EndPoint { get; }

    public static async Task<HaproxyProcess> StartAsync(IPEndPoint backend)
    {
        string directory = Directory.CreateTempSubdirectory("haproxy-").FullName;
        int port = LoopbackPorts.FreeServerPort();
        string config = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            global
                maxconn 256
            defaults
                mode tcp
                timeout connect 5s
                timeout client 120s
                timeout server 120s
            frontend turn
                bind 127.0.0.1:{port}
                default_backend turnserver
            backend turnserver
                server turnserver {backend} send-proxy-v2

            """));

        // -db: stay in the foreground, so disposing ends it by its PID.
        var haproxy = new HaproxyProcess(ExternalProcess.Start("haproxy", ["-db", "-f", config]), directory, port);
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(haproxy.EndPoint);
                return haproxy;
            }
            catch (SocketException)
            {
                await Task.Delay(50); // not listening yet; connecting again is the only readiness signal it gives
            }
        }

        haproxy.Dispose();
        throw new TimeoutException("haproxy did not listen within 10 s:\n" + haproxy._process.Output);
    }

    public void Dispose()
    {
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
