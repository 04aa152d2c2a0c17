using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tcp;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>
/// tcp-proxy-port behind Debian's haproxy with send-proxy-v2: the server sees each client as the PROXY header names it,
/// and turnutils_uclient relays through the balancer without loss.
/// </summary>
public partial class InteropTests
{
    [Fact]
    public async Task Behind_haproxy_the_mapped_address_is_the_clients_own()
    {
        await using TestServer server = await TestServer.StartAsync("--tcp-proxy-port=0");
        using HaproxyProcess haproxy = await HaproxyProcess.StartAsync(server.ProxyEndPoints.Single());
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.7"), 0));
        await socket.ConnectAsync(haproxy.EndPoint);

        var request = new byte[20];
        _ = new StunMessageWriter(request, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        await socket.SendAsync(request);
        byte[] response = await ReceiveMessageAsync(socket);

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        Assert.Equal(StunMessageClass.SuccessResponse, message.Class);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        Assert.Equal(socket.LocalEndPoint, mapped.ToEndPoint());
    }

    [Fact]
    public async Task Tls_passed_through_haproxy_follows_the_proxy_header()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--tcp-proxy-port=0"]);
        using HaproxyProcess haproxy = await HaproxyProcess.StartAsync(server.ProxyEndPoints.Single());

        using StunStreamClient client = await StunStreamClient.ConnectAsync(haproxy.EndPoint, certificate.Certificate);
        byte[] response = await client.RequestAsync(StunMethod.Binding);

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        Assert.Equal(client.LocalEndPoint, mapped.ToEndPoint());

        TransportAddress relayed = await client.AllocateAsync();
        Core.Allocations.Allocation allocation = server.Events.Created.Single();
        Assert.Equal(relayed, allocation.RelayedTransportAddress);
        Assert.Equal(Core.Allocations.TransportProtocol.Tls, allocation.FiveTuple.Protocol);
        Assert.Equal(client.LocalEndPoint, allocation.FiveTuple.ClientAddress.ToEndPoint());
    }

    [Fact]
    public async Task Uclient_relays_over_tcp_through_haproxy_without_loss()
    {
        await using TestServer server = await TestServer.StartAsync("--tcp-proxy-port=0");
        using HaproxyProcess haproxy = await HaproxyProcess.StartAsync(server.ProxyEndPoints.Single());
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();

        await RunUclientAndCheckAsync(server, peer, ["-t", "-u", TestServer.User, "-w", TestServer.Password], sendIndications: false, haproxy.EndPoint.Port);

        Assert.NotEmpty(server.Events.Created);
        Assert.All(server.Events.Created, a => Assert.Equal(server.ProxyEndPoints.Single().Port, a.FiveTuple.ServerAddress.Port));
    }

    [Fact]
    public async Task A_connection_without_a_proxy_header_is_closed_unanswered()
    {
        await using TestServer server = await TestServer.StartAsync("--tcp-proxy-port=0");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.ProxyEndPoints.Single());

        var request = new byte[20];
        _ = new StunMessageWriter(request, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        await socket.SendAsync(request);
        Assert.Equal(0, await ReceiveOrResetAsync(socket)); // closed, no answer
        Assert.Equal(0, server.Engine.Counters.BindingRequests);
        ConnectionSetupCounters setups = server.Host.Services.GetRequiredService<ConnectionSetupCounters>();
        Assert.Equal(1, setups.Get(ConnectionSetupFailure.ProxyHeader));
        Assert.Equal(0, setups.Get(ConnectionSetupFailure.Closed));
    }

    /// <summary>
    /// Regression: behind <c>tcp-proxy-port</c> every connection comes from the balancer, so no client was held to
    /// its share of the descriptors: one client could take them all through the balancer. The share now applies to
    /// the client each PROXY header names, once it is read; a connection past it is closed unanswered.
    /// </summary>
    [Fact]
    public async Task Behind_the_proxy_port_each_client_a_header_names_holds_at_most_its_share()
    {
        await using TestServer server = await TestServer.StartAsync(["--tcp-proxy-port=0"], s => s.AddSingleton(new DescriptorBudget(8, NullLogger.Instance)));
        Assert.Equal(2, server.Descriptors.ConnectionsPerAddress);
        IPEndPoint balanced = server.ProxyEndPoints.Single();

        // One after the other, each answered before the next connects: connections are set up in parallel, so a
        // later one could otherwise take its client's share before an earlier one.
        using Socket first = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40000"));
        Assert.Equal(IPEndPoint.Parse("192.0.2.7:40000"), await MappedAddressAsync(first));
        using Socket second = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40001"));
        Assert.Equal(IPEndPoint.Parse("192.0.2.7:40001"), await MappedAddressAsync(second));
        using Socket third = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40002"));
        Assert.Equal(0, await ReceiveOrResetAsync(third)); // closed, no answer
        using Socket other = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.8:40000"));
        Assert.Equal(IPEndPoint.Parse("192.0.2.8:40000"), await MappedAddressAsync(other));
        Assert.Equal(1, server.Descriptors.RefusedPerAddress);
    }

    /// <summary>
    /// Regression: the port is bound on every listening-ip, so hosts other than the balancer may reach it. Their
    /// connections held no share while the header was pending, nor after a LOCAL header: one host took every
    /// descriptor. The connection's own address now holds a share until a header names a client.
    /// </summary>
    [Fact]
    public async Task A_host_reaching_the_proxy_port_directly_holds_one_share_whatever_headers_it_sends()
    {
        await using TestServer server = await TestServer.StartAsync(["--tcp-proxy-port=0"], s => s.AddSingleton(new DescriptorBudget(8, NullLogger.Instance)));
        IPEndPoint balanced = server.ProxyEndPoints.Single();

        // Accepted in the order connected: once the second is answered, the first holds its share too.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(balanced);
        using Socket local = await ConnectThroughHeaderAsync(balanced, client: null);
        Assert.Equal(local.LocalEndPoint, await MappedAddressAsync(local));
        using Socket third = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40000"));
        Assert.Equal(0, await ReceiveOrResetAsync(third));

        using Socket elsewhere = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40000"), from: IPAddress.Parse("127.0.0.9"));
        Assert.Equal(IPEndPoint.Parse("192.0.2.7:40000"), await MappedAddressAsync(elsewhere));
        Assert.Equal(1, server.Descriptors.RefusedPerAddress);
    }

    /// <summary>
    /// A balancer's health check (HAProxy's <c>check-send-proxy</c>: a LOCAL header, then it hangs up) is not a failed
    /// setup; a connection that hangs up before any header is.
    /// </summary>
    [Fact]
    public async Task A_health_check_with_a_local_header_is_not_counted_as_a_failed_setup()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--tcp-proxy-port=0"]);
        ConnectionSetupCounters setups = server.Host.Services.GetRequiredService<ConnectionSetupCounters>();
        IPEndPoint balanced = server.ProxyEndPoints.Single();

        using (var bare = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await bare.ConnectAsync(balanced);
            bare.Shutdown(SocketShutdown.Send);
            Assert.Equal(0, await ReceiveOrResetAsync(bare));
        }

        Assert.Equal(1, setups.Get(ConnectionSetupFailure.Closed));
        using (var check = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await check.ConnectAsync(balanced);
            await check.SendAsync((byte[])[0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00]);
            check.Shutdown(SocketShutdown.Send);
            Assert.Equal(0, await ReceiveOrResetAsync(check));
        }

        Assert.Equal(1, setups.Get(ConnectionSetupFailure.Closed));
    }

    /// <summary>
    /// Regression: a header could name a client already connected, giving two connections one 5-tuple; the second's
    /// ChannelData and Send indications, which carry no credentials, went out through the first's allocation.
    /// </summary>
    [Fact]
    public async Task A_header_naming_a_connected_client_is_refused()
    {
        await using TestServer server = await TestServer.StartAsync("--tcp-proxy-port=0");
        IPEndPoint balanced = server.ProxyEndPoints.Single();
        using Socket first = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40000"));
        Assert.Equal(IPEndPoint.Parse("192.0.2.7:40000"), await MappedAddressAsync(first));

        using Socket copy = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40000"));
        Assert.Equal(0, await ReceiveOrResetAsync(copy));
        Assert.Equal(1, server.Host.Services.GetRequiredService<ConnectionSetupCounters>().Get(ConnectionSetupFailure.ProxyHeader));

        using Socket otherPort = await ConnectThroughHeaderAsync(balanced, IPEndPoint.Parse("192.0.2.7:40001"));
        Assert.Equal(IPEndPoint.Parse("192.0.2.7:40001"), await MappedAddressAsync(otherPort));
    }

    /// <summary>
    /// Connects to a <c>tcp-proxy-port</c> as a balancer would for <paramref name="client"/>: a PROXY protocol v2
    /// header naming it (a LOCAL header when null), then a Binding request, in one write; from <paramref name="from"/>
    /// when given.
    /// </summary>
    private static async Task<Socket> ConnectThroughHeaderAsync(IPEndPoint server, IPEndPoint? client, IPAddress? from = null)
    {
        byte[] header = client is null
            ? [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00]
            : [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, .. client.Address.GetAddressBytes(), .. server.Address.GetAddressBytes(), (byte)(client.Port >> 8), (byte)client.Port, (byte)(server.Port >> 8), (byte)server.Port];
        var request = new byte[20];
        _ = new StunMessageWriter(request, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (from is not null)
        {
            socket.Bind(new IPEndPoint(from, 0));
        }

        await socket.ConnectAsync(server);
        await socket.SendAsync((byte[])[.. header, .. request]);
        return socket;
    }

    private static async Task<IPEndPoint> MappedAddressAsync(Socket socket)
    {
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(await ReceiveMessageAsync(socket), out StunMessageReader message));
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        return mapped.ToEndPoint();
    }

    /// <summary>What a read gets within 10 s, as a byte count: 0 when the server closed the connection, with a reset or not.</summary>
    private static async Task<int> ReceiveOrResetAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await socket.ReceiveAsync(new byte[64], SocketFlags.None, timeout.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return 0; // closed with bytes of ours still unread: a reset, not a FIN
        }
    }

    private static async Task<byte[]> ReceiveMessageAsync(Socket socket)
    {
        var buffer = new byte[1500];
        int length = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (length < 20 || length < 20 + ((buffer[2] << 8) | buffer[3]))
        {
            int received = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, timeout.Token);
            Assert.True(received > 0, "closed before the answer");
            length += received;
        }

        return buffer[..length];
    }
}
