using System.Globalization;
using System.Net;
using System.Net.Sockets;
using TurnServer.Core;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// RFC 5780 NAT behaviour discovery on two loopback addresses, as coTURN serves it with two listening IPs: answers
/// leave from the address CHANGE-REQUEST asks for, and Debian's turnutils_natdiscovery classifies the (absent) NAT.
/// </summary>
public class NatBehaviorDiscoveryTests
{
    private static readonly IPAddress Primary = IPAddress.Loopback;
    private static readonly IPAddress Secondary = IPAddress.Parse("127.0.0.2");

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_change_request_is_answered_from_the_other_ip_and_port(bool linuxUdp)
    {
        (TestServer server, int port) = await StartAsync(linuxUdp);
        await using TestServer _ = server;
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 0));
        var origin = new IPEndPoint(Secondary, port + 1);

        (byte[] response, IPEndPoint from) = await ExchangeAsync(client, new IPEndPoint(Primary, port), NatBehaviorDiscovery.ChangeIp | NatBehaviorDiscovery.ChangePort);

        Assert.Equal(origin, from);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        Assert.Equal(StunMessageClass.SuccessResponse, message.Class);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        Assert.Equal(client.LocalEndPoint, mapped.ToEndPoint());
        Assert.True(message.TryGetAddress(StunAttributeType.ResponseOrigin, out TransportAddress responseOrigin));
        Assert.Equal(origin, responseOrigin.ToEndPoint());
        Assert.True(message.TryGetAddress(StunAttributeType.OtherAddress, out TransportAddress other));
        Assert.Equal(origin, other.ToEndPoint());
    }

    [Fact]
    public async Task Natdiscovery_finds_endpoint_independent_mapping_and_filtering()
    {
        (TestServer server, int port) = await StartAsync(linuxUdp: null);
        await using TestServer _ = server;

        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_natdiscovery",
            ["-m", "-f", "-L", "127.0.0.3", "-p", port.ToString(CultureInfo.InvariantCulture), "127.0.0.1"],
            TimeSpan.FromSeconds(60));

        Assert.Contains("Endpoint Independent Mapping", result.Output);
        Assert.Contains("Endpoint Independent Filtering", result.Output);

        // The filtering test's answer to "change IP and port" came from the other address and port.
        Assert.Contains($"Response origin: : 127.0.0.2:{port + 1}", result.Output);
        Assert.Contains($"Other addr: : 127.0.0.2:{port + 1}", result.Output);
        Assert.True(server.Engine.Counters.BindingResponses >= 4, result.Output);
    }

    [Fact]
    public async Task With_one_listening_ip_a_change_request_draws_420()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 0));

        (byte[] response, IPEndPoint from) = await ExchangeAsync(client, server.UdpEndPoint, NatBehaviorDiscovery.ChangePort);

        Assert.Equal(server.UdpEndPoint, from);
        Assert.Equal(StunErrorCodes.UnknownAttribute, StunTestClient.Code(response));
        Assert.Single(server.UdpEndPoints);
    }

    /// <summary>
    /// A server on 127.0.0.1 and 127.0.0.2 with a port whose successor is free too; another process can take either
    /// between the check and the bind, so a failed start is retried with other ports.
    /// </summary>
    private static async Task<(TestServer Server, int Port)> StartAsync(bool? linuxUdp)
    {
        for (int attempt = 1; ; attempt++)
        {
            int port = LoopbackPorts.FreeServerPort(consecutive: 2);
            TestServer server;
            try
            {
                server = await TestServer.StartRawAsync(
                    ["-n", "--rfc5780", $"--listening-ip={Primary}", $"--listening-ip={Secondary}", "--listening-port=" + port.ToString(CultureInfo.InvariantCulture),
                     "--no-tcp", "--no-tls", "--no-dtls", "--no-auth", "--no-stdout-log"],
                    configureServices: null,
                    linuxUdp);
            }
            catch (SocketException) when (attempt < 5)
            {
                continue; // StartRawAsync closed what it had bound
            }

            try
            {
                Assert.Equal(4, server.UdpEndPoints.Count);
                return (server, port);
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    private static async Task<(byte[] Response, IPEndPoint From)> ExchangeAsync(Socket client, IPEndPoint server, uint changeFlags)
    {
        var request = new byte[64];
        var writer = new StunMessageWriter(request, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteUInt32(StunAttributeType.ChangeRequest, changeFlags);
        await client.SendToAsync(request.AsMemory(0, writer.Length), SocketFlags.None, server);

        var buffer = new byte[1500];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        SocketReceiveFromResult received = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
        return (buffer[..received.ReceivedBytes], (IPEndPoint)received.RemoteEndPoint);
    }
}
