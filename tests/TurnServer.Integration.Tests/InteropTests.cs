using System.Globalization;
using System.Text.RegularExpressions;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Dtls;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// Interop with clients nobody here wrote: Debian's turnutils_stunclient and turnutils_uclient, with turnutils_peer
/// as the peer, relaying through the in-process server on loopback over UDP, TCP, TLS and DTLS.
/// </summary>
public partial class InteropTests
{
    private const int Clients = 10;
    private const int MessagesPerClient = 50;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Stunclient_gets_its_own_address_as_the_reflexive_address()
    {
        await using TestServer server = await TestServer.StartAsync();
        ToolResult result = await ExternalProcess.RunAsync("turnutils_stunclient", ["-p", Port(server), "-L", "127.0.0.2", "127.0.0.1"], ToolTimeout);

        Match reflexive = ReflexiveAddress().Match(result.Output);
        Assert.True(reflexive.Success, result.Output);
        Assert.Equal("127.0.0.2", reflexive.Groups[1].Value);
        Assert.InRange(int.Parse(reflexive.Groups[2].Value, CultureInfo.InvariantCulture), 1, 65535);
        Assert.True(server.Engine.Counters.BindingResponses >= 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_relays_with_long_term_credentials_without_loss(bool sendIndications)
    {
        await using TestServer server = await TestServer.StartAsync();
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        string[] auth = ["-u", TestServer.User, "-w", TestServer.Password];
        await RunUclientAndCheckAsync(server, peer, auth, sendIndications);
    }

    /// <summary>
    /// uclient's -g puts DONT-FRAGMENT on its Allocate and on every Send indication: the relay socket sets DF for the
    /// allocation, and Sends carrying the attribute are relayed, not refused as carrying an unknown one.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_asking_for_dont_fragment_relays_without_loss(bool sendIndications)
    {
        await using TestServer server = await TestServer.StartAsync();
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        await RunUclientAndCheckAsync(server, peer, ["-g", "-u", TestServer.User, "-w", TestServer.Password], sendIndications);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_relays_with_a_rest_api_secret_without_loss(bool sendIndications)
    {
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + TestServer.Realm, "--use-auth-secret",
            "--static-auth-secret=an-older-secret", "--static-auth-secret=" + TestServer.RestSecret, "--allow-loopback-peers", "--no-stdout-log");
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        await RunUclientAndCheckAsync(server, peer, ["-W", TestServer.RestSecret, "-u", "webrtc-user"], sendIndications);
    }

    /// <summary>coTURN serves plain UDP on its TLS port too; so does this server, beside DTLS.</summary>
    [Fact]
    public async Task Uclient_relays_over_plain_udp_to_the_tls_port_without_loss()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        await RunUclientAndCheckAsync(server, peer, ["-u", TestServer.User, "-w", TestServer.Password], sendIndications: false, server.DtlsEndPoints[0].Port);
        Assert.All(server.Events.Created, a => Assert.Equal(server.DtlsEndPoints[0].Port, a.FiveTuple.ServerAddress.Port));
    }

    [Fact]
    public async Task Uclient_relays_over_tcp_without_loss()
    {
        await using TestServer server = await TestServer.StartAsync();
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        await RunUclientAndCheckAsync(server, peer, ["-t", "-u", TestServer.User, "-w", TestServer.Password], sendIndications: false, server.TcpEndPoints[0].Port);
    }

    /// <summary>
    /// Regression: answers that shared one TLS record lost 1-5% of uclient's messages, because uclient reads one
    /// message per socket readiness event and never looks at the rest of a record. Each message is now one record.
    /// TLS to the plain port works too, as with coTURN.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Uclient_over_tls_gets_every_message_when_answers_would_share_a_record(bool tlsPort)
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        int port = (tlsPort ? server.TlsEndPoints[0] : server.TcpEndPoints[0]).Port;
        await RunUclientAndCheckAsync(server, peer, ["-t", "-S", "-u", TestServer.User, "-w", TestServer.Password], sendIndications: false, port);
        Assert.NotEmpty(server.Events.Created);
        Assert.All(server.Events.Created, a => Assert.Equal(TransportProtocol.Tls, a.FiveTuple.Protocol));
    }

    /// <summary>
    /// -S without -t is DTLS over UDP, to the TLS port or (as coTURN takes it too) the plain port. uclient picks DTLS
    /// 1.0 or 1.2 at random for each connection; the server refuses 1.0 with a protocol_version alert, uclient
    /// reconnects, and every session ends up on 1.2. -m counts connections: each RTP and RTCP pair also makes a probe
    /// session first.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Uclient_relays_over_dtls_without_loss(bool sendIndications, bool listeningPort)
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        string[] args = ["-S", "-u", TestServer.User, "-w", TestServer.Password];
        int port = listeningPort ? server.Port : server.DtlsEndPoints[0].Port;
        DtlsEndpoint dtls = listeningPort ? server.ListeningPortDtls! : server.Dtls[0];
        var ended = new System.Collections.Concurrent.ConcurrentQueue<string>();
        dtls.SessionEnded += end => ended.Enqueue(end.FiveTuple.ClientAddress.Port + ": " + end.Reason);
        try
        {
            await RunUclientAndCheckAsync(server, peer, args, sendIndications, port);
        }
        catch (TimeoutException e)
        {
            // Should uclient stall, say what the server saw (stalls came from port reuse, fixed by RFC 6347 4.2.8 renewal).
            string drops = string.Join(", ", Enum.GetValues<DtlsDropReason>().Select(r => r + " " + dtls.Counters.Get(r)));
            throw new TimeoutException(
                $"handshakes started {dtls.Counters.HandshakesStarted}, completed {dtls.Counters.HandshakesCompleted}; drops: {drops}; sessions ended: {string.Join(", ", ended)}; allocations {server.Events.Created.Count}\n{e.Message}",
                e);
        }

        Assert.NotEmpty(server.Events.Created);
        Assert.All(server.Events.Created, a => Assert.Equal((TransportProtocol.Dtls, port), (a.FiveTuple.Protocol, a.FiveTuple.ServerAddress.Port)));
        Assert.True(dtls.Counters.HandshakesCompleted >= Clients, "handshakes: " + dtls.Counters.HandshakesCompleted);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_relays_over_ipv6_without_loss(bool tcp)
    {
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=::1", "--listening-port=0", "--realm=" + TestServer.Realm, "--user=alice:secret", "--allow-loopback-peers", "--no-stdout-log");
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync("::1");
        int port = tcp ? server.TcpEndPoints[0].Port : server.Port;
        string[] args = ["-x", .. tcp ? new[] { "-t" } : [], "-u", TestServer.User, "-w", TestServer.Password];
        await RunUclientAndCheckAsync(server, peer, args, sendIndications: false, port, "::1");
        (Core.Allocations.Allocation allocation, _) = await server.Events.NextEndAsync(TimeSpan.FromSeconds(10));
        Assert.True(allocation.FiveTuple.ClientAddress.IsIPv6);
        Assert.True(allocation.RelayedTransportAddress.IsIPv6);
    }

    /// <summary>
    /// RFC 6062 through uclient's -T mode: clients allocate TCP relays and connect to each other's relayed
    /// addresses (client to client, so no turnutils_peer), over plain TCP and over TLS.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_relays_over_tcp_relay_client_to_client_without_loss(bool tls)
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        int port = tls ? server.TlsEndPoints[0].Port : server.TcpEndPoints[0].Port;
        string[] args =
        [
            "-T", .. tls ? new[] { "-S" } : [], "-u", TestServer.User, "-w", TestServer.Password,
            "-p", port.ToString(CultureInfo.InvariantCulture), "-n", MessagesPerClient.ToString(CultureInfo.InvariantCulture),
            "-m", Clients.ToString(CultureInfo.InvariantCulture), "-l", "170", "127.0.0.1",
        ];
        ToolResult result = await ExternalProcess.RunAsync("turnutils_uclient", args, ToolTimeout);

        UclientOutput.AssertNoLoss(result, Clients * MessagesPerClient);
        TrafficTotals traffic = server.Engine.GetTrafficTotals();
        Assert.True(traffic.PeerBytesSent >= Clients * MessagesPerClient * 170L, $"bytes relayed to peers: {traffic.PeerBytesSent}");
    }

    /// <summary>udp-self-balance: uclient follows 300 Try Alternate from the main port to the aux server and relays there.</summary>
    [Fact]
    public async Task Uclient_follows_udp_self_balance_to_the_aux_server_without_loss()
    {
        int auxPort = LoopbackPorts.FreeServerPort();
        await using TestServer server = await TestServer.StartAsync("--aux-server=127.0.0.1:" + auxPort.ToString(CultureInfo.InvariantCulture), "--udp-self-balance");
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();

        await RunUclientAndCheckAsync(server, peer, ["-u", TestServer.User, "-w", TestServer.Password], sendIndications: false);

        Assert.NotEmpty(server.Events.Created);
        Assert.All(server.Events.Created, a => Assert.Equal(auxPort, a.FiveTuple.ServerAddress.Port));
    }

    /// <summary>
    /// RFC 8016 through uclient's -M mode: every Allocate asks for a ticket, then uclient opens a new socket (a new
    /// source port; over TCP a new connection, the old one closed before or after at random) and sends Refresh with
    /// the ticket twice, with one transaction ID; the relay traffic then flows from the new 5-tuple. (Over TLS and
    /// DTLS uclient 4.6 reuses a freed SSL object in this step and fails on its own, so those are left to unit tests.)
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_with_mobility_moves_every_allocation_and_relays_without_loss(bool tcp)
    {
        await using TestServer server = await TestServer.StartAsync("--mobility");
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        string[] args = ["-M", .. tcp ? new[] { "-t" } : [], "-u", TestServer.User, "-w", TestServer.Password];
        await RunUclientAndCheckAsync(server, peer, args, sendIndications: false, tcp ? server.TcpEndPoints[0].Port : server.Port);

        Assert.NotEmpty(server.Events.Created);
        Assert.Equal(server.Events.Created.Count, server.Events.Moved.Count);
        Assert.All(server.Events.Moved, move =>
        {
            Assert.NotEqual(move.From.ClientAddress.Port, move.Allocation.FiveTuple.ClientAddress.Port);
            Assert.Equal(move.From.Protocol, move.Allocation.FiveTuple.Protocol);
        });
        Assert.Equal(0, server.Engine.Counters.GetAuthFailures(AuthFailureReason.WrongCredentials));
    }

    /// <summary>
    /// uclient -o puts three ORIGINs on its Allocate and Refresh requests (https://carleon.gov:443, the one given,
    /// ftp://uffrith.net); the allocation keeps the last, as coTURN does, and with check-origin-consistency every
    /// request still passes.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Uclient_with_an_origin_relays_under_check_origin_consistency(bool sendIndications)
    {
        await using TestServer server = await TestServer.StartAsync("--check-origin-consistency");
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        await RunUclientAndCheckAsync(server, peer, ["-o", "https://app.example.org", "-u", TestServer.User, "-w", TestServer.Password], sendIndications);

        Assert.All(server.Events.Created, a => Assert.Equal("ftp://uffrith.net:21", a.Origin));
        Assert.Equal(0, server.Engine.Counters.GetAuthFailures(AuthFailureReason.WrongCredentials));
    }

    [Fact]
    public async Task Uclient_asking_for_mobility_is_refused_without_the_option()
    {
        await using TestServer server = await TestServer.StartAsync();
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            ["-M", "-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", peer.Port.ToString(CultureInfo.InvariantCulture), "-p", Port(server), "-n", "5", "-m", "1", "127.0.0.1"],
            ToolTimeout);

        Assert.Contains("error 405", result.Output, StringComparison.Ordinal);
        Assert.Empty(server.Events.Created);
    }

    [Fact]
    public async Task Uclient_with_a_wrong_password_gets_no_allocation()
    {
        await using TestServer server = await TestServer.StartAsync();
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            ["-u", TestServer.User, "-w", "not-the-password", "-e", "127.0.0.1", "-r", peer.Port.ToString(CultureInfo.InvariantCulture), "-p", Port(server), "-n", "5", "-m", "1", "127.0.0.1"],
            ToolTimeout);

        Assert.Contains("Cannot complete Allocation", result.Output, StringComparison.Ordinal);
        Assert.True(server.Engine.Counters.GetAuthFailures(AuthFailureReason.BadIntegrity) >= 1);
        Assert.Equal(0, server.Engine.GetTrafficTotals().PeerPacketsSent);
    }

    private static async Task RunUclientAndCheckAsync(TestServer server, TurnutilsPeer peer, string[] auth, bool sendIndications, int? port = null, string address = "127.0.0.1")
    {
        string[] args =
        [
            .. auth,
            .. sendIndications ? new[] { "-s" } : [],
            "-e", address, "-r", peer.Port.ToString(CultureInfo.InvariantCulture), "-p", (port ?? server.Port).ToString(CultureInfo.InvariantCulture),
            "-n", MessagesPerClient.ToString(CultureInfo.InvariantCulture), "-m", Clients.ToString(CultureInfo.InvariantCulture), "-l", "170",
            address,
        ];
        ToolResult result = await ExternalProcess.RunAsync("turnutils_uclient", args, ToolTimeout);
        const int expected = Clients * MessagesPerClient;
        UclientOutput.AssertNoLoss(result, expected);

        // The echoes came back through this server: every message went client -> relay -> peer and back.
        TrafficTotals traffic = server.Engine.GetTrafficTotals();
        Assert.True(traffic.PeerPacketsSent >= expected, $"relayed to peer: {traffic.PeerPacketsSent}");
        Assert.True(traffic.ClientPacketsSent >= expected, $"relayed to client: {traffic.ClientPacketsSent}");
        Assert.Equal(0, server.Engine.Counters.GetDropped(DropReason.SendFailed));
    }

    private static string Port(TestServer server) => server.Port.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"UDP reflexive addr: (\d+\.\d+\.\d+\.\d+):(\d+)")]
    private static partial Regex ReflexiveAddress();
}
