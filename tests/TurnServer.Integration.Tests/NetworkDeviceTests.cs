using System.Globalization;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>
/// coTURN's <c>listening-device</c> and <c>relay-device</c> (SO_BINDTODEVICE). The kernel reports a socket's device
/// to <c>ss</c> as <c>address%device:port</c>, so the test reads it there, for the UDP and TCP listeners and for a
/// UDP and an RFC 6062 TCP relay, and relays through them to show they still work.
/// </summary>
public sealed class NetworkDeviceTests
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Listeners_and_relays_are_tied_to_their_devices_and_still_relay()
    {
        await using TestServer server = await TestServer.StartAsync("--listening-device=lo", "--relay-device=lo");
        using var udp = new StunUdpClient(server.UdpEndPoint);
        TransportAddress udpRelay = await udp.AllocateAsync();
        using StunStreamClient tcp = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        TransportAddress tcpRelay = await tcp.AllocateAsync((ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 6));

        Assert.Contains($"127.0.0.1%lo:{server.Port}", await SocketsAsync("-Hanu", server.Port));
        Assert.Contains($"127.0.0.1%lo:{server.TcpEndPoints[0].Port}", await SocketsAsync("-Hant", server.TcpEndPoints[0].Port));
        Assert.Contains($"127.0.0.1%lo:{udpRelay.Port}", await SocketsAsync("-Hanu", udpRelay.Port));
        Assert.Contains($"127.0.0.1%lo:{tcpRelay.Port}", await SocketsAsync("-Hant", tcpRelay.Port));

        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            ["-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", peer.Port.ToString(CultureInfo.InvariantCulture), "-p", server.Port.ToString(CultureInfo.InvariantCulture), "-n", "50", "-m", "2", "-l", "170", "127.0.0.1"],
            ToolTimeout);
        UclientOutput.AssertNoLoss(result, 100);
    }

    [Fact]
    public async Task Without_the_options_no_socket_is_tied_to_a_device()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var udp = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relay = await udp.AllocateAsync();

        Assert.Contains($"127.0.0.1:{server.Port}", await SocketsAsync("-Hanu", server.Port));
        Assert.Contains($"127.0.0.1:{relay.Port}", await SocketsAsync("-Hanu", relay.Port));
    }

    private static async Task<string> SocketsAsync(string flags, int port)
    {
        ToolResult result = await ExternalProcess.RunAsync("ss", [flags, $"sport = :{port}"], ToolTimeout);
        return result.Output;
    }
}
