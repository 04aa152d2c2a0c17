using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TurnServer.Core.Allocations;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tcp;
using TurnServer.Hosting.Tls;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>TURN over TCP and TLS (RFC 8656 sections 3.1 and 12.5) against the in-process server.</summary>
public sealed class StreamTransportTests : IDisposable
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(10);
    private readonly TestCertificate _certificate = new();

    public void Dispose() => _certificate.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Channel_data_is_padded_to_four_bytes_both_ways(bool tls)
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using var peer = new UdpEchoPeer();
        using StunStreamClient client = await ConnectAsync(server, tls);
        await client.AllocateAsync();
        await client.BindChannelAsync(0x4002, TransportAddress.FromEndPoint(peer.EndPoint));

        byte[] payload = [1, 2, 3, 4, 5];
        var frame = new byte[ChannelData.GetStreamFrameLength(payload.Length)];
        ChannelData.WriteHeader(frame, 0x4002, payload.Length);
        payload.CopyTo(frame, 4);
        await client.SendRawAsync(frame);

        byte[] echoed = await client.ReceiveAsync();
        Assert.Equal(12, echoed.Length); // 4 + 5, padded to 12
        Assert.Equal(frame, echoed);
        Assert.Equal(payload, Assert.Single(peer.Received).Data); // padding is not relayed
    }

    /// <summary>
    /// A fullchain.pem (certificate, then intermediate), as Let's Encrypt issues it and coTURN's cert takes it: the
    /// intermediate goes out in the handshake, so an OpenSSL client (as turnutils and libwebrtc's BoringSSL) that trusts
    /// only the root verifies the server.
    /// </summary>
    [Fact]
    public async Task Tls_sends_the_intermediate_certificates_of_the_cert_file()
    {
        using TestCertificate chained = TestCertificate.FromIntermediate();
        await using TestServer server = await TestServer.StartAsync(chained.Options);
        ToolResult result = await ExternalProcess.RunAsync(
            "bash",
            ["-c", "openssl s_client -connect 127.0.0.1:" + server.TlsEndPoints[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture) + " -CAfile \"$0\" -verify_return_error -showcerts </dev/null", chained.RootPath!],
            TimeSpan.FromSeconds(30));
        Assert.Contains("Verify return code: 0 (ok)", result.Output, StringComparison.Ordinal);
        Assert.Equal(2, result.Output.Split("-----BEGIN CERTIFICATE-----").Length - 1);
    }

    [Fact]
    public async Task Many_messages_in_one_segment_each_get_their_answer()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient client = await ConnectAsync(server, tls: false);
        var requests = Enumerable.Range(0, 5).Select(_ => client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false)).ToList();
        await client.SendRawAsync(requests.SelectMany(r => r).ToArray());

        foreach (byte[] request in requests)
        {
            byte[] response = await client.ReceiveAsync();
            Assert.Equal(request.AsSpan(8, 12).ToArray(), response.AsSpan(8, 12).ToArray());
            Assert.Equal(0, StunTestClient.Code(response));
        }
    }

    [Fact]
    public async Task A_message_split_across_segments_is_reassembled()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient client = await ConnectAsync(server, tls: false);
        byte[] request = client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false);
        foreach (byte b in request)
        {
            await client.SendRawAsync(new[] { b }); // NoDelay: one segment per byte, as far as the stack allows
        }

        byte[] response = await client.ReceiveAsync();
        Assert.Equal(request.AsSpan(8, 12).ToArray(), response.AsSpan(8, 12).ToArray());
        StunMessageReader.TryParse(response, out StunMessageReader message);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        Assert.Equal(TransportAddress.FromEndPoint(client.LocalEndPoint), mapped);
    }

    [Fact]
    public async Task Closing_the_connection_deletes_the_allocation_and_frees_its_port()
    {
        await using TestServer server = await TestServer.StartAsync();
        TransportAddress relayed;
        using (StunStreamClient client = await ConnectAsync(server, tls: false))
        {
            relayed = await client.AllocateAsync();
            Assert.Equal(TransportProtocol.Tcp, server.Engine.Allocations.All.Single().FiveTuple.Protocol);
        }

        (Allocation allocation, AllocationEndReason reason) = await server.Events.NextEndAsync(EventTimeout);
        Assert.Equal(AllocationEndReason.ConnectionClosed, reason);
        Assert.Equal(relayed.Port, allocation.RelayV4!.LocalAddress.Port);
        Assert.Equal(0, server.Engine.Allocations.Count);
        Assert.Equal(server.Engine.Ports.Capacity, server.Engine.Ports.FreeCount);
    }

    [Fact]
    public async Task Refresh_to_zero_is_answered_then_the_connection_closes()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient client = await ConnectAsync(server, tls: false);
        await client.AllocateAsync();
        byte[] response = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0));
        Assert.Equal(0, StunTestClient.Code(response));
        await client.WaitForCloseAsync(EventTimeout);
        Assert.Equal(AllocationEndReason.Deleted, (await server.Events.NextEndAsync(EventTimeout)).Reason);
    }

    [Fact]
    public async Task A_connection_without_an_allocation_is_closed_after_max_allocate_timeout()
    {
        await using TestServer server = await TestServer.StartAsync("--max-allocate-timeout=1");
        using StunStreamClient idle = await ConnectAsync(server, tls: false);
        Assert.Equal(0, StunTestClient.Code(await idle.RequestAsync(StunMethod.Binding)));
        await idle.WaitForCloseAsync(EventTimeout);
    }

    /// <summary>
    /// Regression: a client that stopped reading kept its socket and descriptor for good. The loop writing to it
    /// waited forever in a write the client never made room for, and closing the connection (here because its
    /// allocation was deleted; max-allocate-timeout and expiry take the same path) waited for that loop.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_that_stops_reading_is_closed_and_gives_its_descriptor_back_when_its_allocation_ends(bool tls)
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        long baseline = server.Descriptors.InUse;
        using StunStreamClient client = tls
            ? await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], _certificate.Certificate, receiveBufferSize: 4096)
            : await StunStreamClient.ConnectAsync(server.TcpEndPoints[0], receiveBufferSize: 4096);
        await client.AllocateAsync();

        // Binding requests whose answers the client never reads, until the answers the server queues for it stop
        // adding up: its kernel buffers and its 1 MB queue are full, and its write to the client is stuck.
        byte[] binding = client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false);
        byte[] burst = [.. Enumerable.Repeat(binding, 512).SelectMany(b => b)];
        Core.Diagnostics.ServerCounters counters = server.Engine.Counters;
        using var stop = new CancellationTokenSource();
        Task flooding = Task.Run(async () =>
        {
            for (int i = 0; i < 100_000 && !stop.IsCancellationRequested; i++)
            {
                await client.SendRawAsync(burst);
            }
        });
        await Poll.UntilSteadyAsync(
            () => counters.BindingResponses - counters.GetDropped(Core.Diagnostics.DropReason.SendFailed),
            atLeast: 1 << 15,
            TimeSpan.FromSeconds(2),
            TimeSpan.FromSeconds(30),
            "answers for the client pile up until the server's write is stuck",
            tolerance: 16); // an answer counted and not yet counted as dropped, read between the two counters
        await stop.CancelAsync();
        await flooding.WaitAsync(EventTimeout);

        await client.SendRawAsync(client.Build(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0), TransactionId.NewRandom(), sign: true));

        Assert.Equal(AllocationEndReason.Deleted, (await server.Events.NextEndAsync(EventTimeout)).Reason);
        await Poll.UntilAsync(() => server.Descriptors.InUse == baseline, EventTimeout, "the connection's descriptor is given back");
    }

    /// <summary>
    /// Regression: an accept that failed with anything but a reset, an abort or descriptor exhaustion (accept(2) asks
    /// callers to retry ENETDOWN, EPROTO, EHOSTUNREACH and others; a firewall can cause EPERM) ended the accept loop
    /// without a word, leaving the port dead in a process that looked healthy. shutdown(2) on the listening socket
    /// makes accept fail with EINVAL until listen(2) is called again.
    /// </summary>
    [Fact]
    public async Task The_listener_keeps_accepting_after_an_accept_fails_unexpectedly()
    {
        // A port of its own: shutdown(2) takes the port from a socket bound to port 0, and listen(2) would pick another.
        await using TestServer server = await TestServer.StartAsync("--listening-port=" + LoopbackPorts.FreeServerPort());
        TcpListenerService listener = server.Host.Services.GetServices<IHostedService>().OfType<TcpListenerService>().First(l => l.Protocol == TransportProtocol.Tcp && !l.BehindProxy);

        listener.ListeningSocket.Shutdown(SocketShutdown.Both);
        await Poll.UntilAsync(() => listener.AcceptFailures > 0, EventTimeout, "the accept failed");
        listener.ListeningSocket.Listen();

        using StunStreamClient client = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.Binding)));
    }

    /// <summary>
    /// Regression: a new connection was served on its listener's accept loop until its first read that had to wait,
    /// so the frames of a client whose bytes were in when it was accepted (a flood, say) were handled by the accept
    /// loop itself, and while that went on the listener accepted no one else. Here the first client's Allocate is held
    /// up in its handling, and the listener takes the connection only once its bytes are in.
    /// </summary>
    [Fact]
    public async Task A_client_whose_frames_take_long_to_handle_does_not_hold_up_accepting_others()
    {
        var held = new HeldAllocation();
        await using TestServer server = await TestServer.StartWithoutAuthAsync(held);
        try
        {
            server.AcceptOnlyOnceBytesArrive();
            using StunStreamClient first = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
            await first.SendRawAsync(first.Build(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17), TransactionId.NewRandom(), sign: false));
            await held.Entered.WaitAsync(EventTimeout);

            using StunStreamClient second = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
            Assert.Equal(0, StunTestClient.Code(await second.RequestAsync(StunMethod.Binding)));
        }
        finally
        {
            held.Release();
        }
    }

    [Fact]
    public async Task A_garbage_stream_is_closed_and_counted()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient client = await ConnectAsync(server, tls: false);
        await client.SendRawAsync(new byte[] { 0xFF, 0x00, 0x00, 0x04, 1, 2, 3, 4 });
        await client.WaitForCloseAsync(EventTimeout);
        Assert.Equal(1, server.Engine.Counters.GetDropped(Core.Diagnostics.DropReason.UnknownPacket));
    }

    [Fact]
    public async Task Tls_offers_tls13_and_tls12_and_no_tlsv1_2_leaves_only_tls13()
    {
        await using (TestServer server = await TestServer.StartAsync(_certificate.Options))
        {
            using StunStreamClient tls13 = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], _certificate.Certificate, SslProtocols.Tls13);
            using StunStreamClient tls12 = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], _certificate.Certificate, SslProtocols.Tls12);
            Assert.Equal(SslProtocols.Tls13, ((System.Net.Security.SslStream)tls13.Stream).SslProtocol);
            Assert.Equal(SslProtocols.Tls12, ((System.Net.Security.SslStream)tls12.Stream).SslProtocol);
            Assert.Equal(0, StunTestClient.Code(await tls12.RequestAsync(StunMethod.Binding)));
        }

        await using (TestServer strict = await TestServer.StartAsync([.. _certificate.Options, "--no-tlsv1_2"]))
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => StunStreamClient.ConnectAsync(strict.TlsEndPoints[0], _certificate.Certificate, SslProtocols.Tls12));
            using StunStreamClient ok = await StunStreamClient.ConnectAsync(strict.TlsEndPoints[0], _certificate.Certificate, SslProtocols.Tls13);
            Assert.Equal(0, StunTestClient.Code(await ok.RequestAsync(StunMethod.Binding)));
        }
    }

    /// <summary>coTURN takes TLS and plain TCP on both its ports, and clients configured for it may rely on that.</summary>
    [Theory]
    [InlineData(TransportProtocol.Tcp)]
    [InlineData(TransportProtocol.Tls)]
    public async Task Either_port_takes_tls_and_plain_tcp_told_apart_by_the_first_byte(TransportProtocol port)
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        IPEndPoint endPoint = port == TransportProtocol.Tls ? server.TlsEndPoints[0] : server.TcpEndPoints[0];
        using StunStreamClient tls = await StunStreamClient.ConnectAsync(endPoint, _certificate.Certificate);
        using StunStreamClient plain = await StunStreamClient.ConnectAsync(endPoint);

        await tls.AllocateAsync();
        await plain.AllocateAsync();

        Allocation[] allocations = [.. server.Engine.Allocations.All];
        Assert.Equal(TransportProtocol.Tls, Assert.Single(allocations, a => a.FiveTuple.ClientAddress.Port == tls.LocalEndPoint.Port).FiveTuple.Protocol);
        Assert.Equal(TransportProtocol.Tcp, Assert.Single(allocations, a => a.FiveTuple.ClientAddress.Port == plain.LocalEndPoint.Port).FiveTuple.Protocol);
    }

    [Fact]
    public async Task With_no_tcp_the_tls_port_refuses_plain_tcp()
    {
        await using TestServer server = await TestServer.StartAsync([.. _certificate.Options, "--no-tcp"]);
        Assert.Empty(server.TcpEndPoints);
        using StunStreamClient plain = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0]);
        await plain.SendRawAsync(plain.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false));
        await plain.WaitForCloseAsync(EventTimeout); // read as a broken TLS handshake, never answered
        Assert.Equal(0, server.Engine.Counters.BindingResponses);
    }

    /// <summary>
    /// A client that connects and never finishes its TLS handshake neither holds up others nor keeps its connection:
    /// the server closes it when <see cref="TcpListenerService.HandshakeTimeout"/> has passed, not before.
    /// </summary>
    [Fact]
    public async Task A_client_that_never_finishes_the_tls_handshake_is_closed_after_the_handshake_timeout()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(server.TlsEndPoints[0]);
        long connected = Stopwatch.GetTimestamp();
        silent.Send([0x16, 0x03, 0x01]); // a TLS record header, and nothing more
        using StunStreamClient other = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], _certificate.Certificate);
        Assert.Equal(0, StunTestClient.Code(await other.RequestAsync(StunMethod.Binding)));

        using var cts = new CancellationTokenSource(TcpListenerService.HandshakeTimeout * 3);
        int read = await silent.ReceiveAsync(new byte[64], SocketFlags.None, cts.Token);
        Assert.Equal(0, read); // closed by the server
        Assert.True(Stopwatch.GetElapsedTime(connected) >= TcpListenerService.HandshakeTimeout - TimeSpan.FromSeconds(1));
        ConnectionSetupCounters setups = server.Host.Services.GetRequiredService<ConnectionSetupCounters>();
        Assert.Equal((2L, 1L), (setups.HandshakesStarted, setups.HandshakesCompleted));
        Assert.Equal(1, setups.Get(ConnectionSetupFailure.Timeout));
        Assert.Equal(0, setups.Get(ConnectionSetupFailure.Closed));
    }

    /// <summary>
    /// cipher-list is what the TLS listener offers for TLS 1.2: a client that would take anything gets the suite named.
    /// Before OpenSSL's TLS 1.3 defaults were kept beside such a list, OpenSSL refused every handshake (protocol_version).
    /// </summary>
    [Theory]
    [InlineData("ECDHE-RSA-AES256-GCM-SHA384", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)]
    [InlineData("ECDHE-RSA-AES128-GCM-SHA256", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)]
    public async Task Cipher_list_decides_the_tls12_suite_and_tls13_keeps_its_defaults(string cipherList, TlsCipherSuite expected)
    {
        using var certificate = new TestCertificate(rsa: true);
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--cipher-list=" + cipherList]);

        Assert.Equal((expected, SslProtocols.Tls12), await NegotiateAsync(server.TlsEndPoints[0], SslProtocols.Tls12));
        (TlsCipherSuite _, SslProtocols protocol) = await NegotiateAsync(server.TlsEndPoints[0], SslProtocols.None);
        Assert.Equal(SslProtocols.Tls13, protocol);
    }

    [Fact]
    public async Task A_tls13_suite_in_cipher_list_is_the_only_tls13_suite_offered()
    {
        using var certificate = new TestCertificate(rsa: true);
        await using TestServer server = await TestServer.StartAsync([.. certificate.Options, "--cipher-list=TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256"]);
        Assert.Equal((TlsCipherSuite.TLS_AES_128_GCM_SHA256, SslProtocols.Tls13), await NegotiateAsync(server.TlsEndPoints[0], SslProtocols.None));
    }

    [Fact]
    public void An_unreadable_certificate_stops_start_up_naming_the_file()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-cert-" + Guid.NewGuid() + ".pem");
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(
            ["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--no-auth", "--cert=" + missing, "--pkey=" + _certificate.KeyPath],
            new Dictionary<string, string?>(),
            () => []);
        Assert.NotNull(config.Settings);
        TlsConfigurationException error = Assert.Throws<TlsConfigurationException>(() => TurnServerHostFactory.Create(config.Settings));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipv6_listeners_answer_with_an_ipv6_mapped_address_and_relay_on_ipv6()
    {
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=::1", "--listening-port=0", "--realm=" + TestServer.Realm, "--user=alice:secret", "--allow-loopback-peers", "--no-stdout-log");
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync((ref StunMessageWriter w) =>
        {
            w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
            w.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, StunAddressCodec.FamilyIPv6);
        });
        Assert.Equal(IPAddress.IPv6Loopback, relayed.ToIPAddress());

        byte[] ipv4Relay = await client.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
        Assert.Equal(437, StunTestClient.Code(ipv4Relay)); // already allocated on this 5-tuple

        using var other = new StunUdpClient(server.UdpEndPoint);
        byte[] noIpv4 = await other.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) =>
        {
            w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
            w.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, StunAddressCodec.FamilyIPv4);
        });
        Assert.Equal(440, StunTestClient.Code(noIpv4)); // this server has no IPv4 address to relay from
    }

    [Theory]
    [InlineData("ipv6", "::1", "::1")]
    [InlineData("keep", "127.0.0.1", "::1")]
    public async Task Allocation_default_address_family_picks_the_relay_family_when_the_client_names_none(string configured, string forIpv4Client, string forIpv6Client)
    {
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-ip=::1", "--listening-port=0", "--realm=" + TestServer.Realm, "--user=alice:secret",
            "--no-stdout-log", "--allocation-default-address-family=" + configured);
        using var ipv4Client = new StunUdpClient(server.UdpEndPoints.Single(e => e.AddressFamily == AddressFamily.InterNetwork));
        using var ipv6Client = new StunUdpClient(server.UdpEndPoints.Single(e => e.AddressFamily == AddressFamily.InterNetworkV6));

        TransportAddress ipv4Relayed = await ipv4Client.AllocateAsync();
        TransportAddress ipv6Relayed = await ipv6Client.AllocateAsync();

        Assert.Equal(IPAddress.Parse(forIpv4Client), ipv4Relayed.ToIPAddress());
        Assert.Equal(IPAddress.Parse(forIpv6Client), ipv6Relayed.ToIPAddress());
    }

    [Fact]
    public async Task An_aux_server_serves_udp_and_tcp_and_allocates_where_the_main_port_redirects()
    {
        int auxPort = LoopbackPorts.FreeServerPort();
        await using TestServer server = await TestServer.StartAsync("--aux-server=127.0.0.1:" + auxPort, "--alternate-server=203.0.113.1:3478");
        var aux = new IPEndPoint(IPAddress.Loopback, auxPort);
        Assert.Contains(aux, server.UdpEndPoints);
        Assert.Contains(aux, server.TcpEndPoints);

        using var main = new StunUdpClient(server.UdpEndPoint);
        byte[] redirected = await main.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
        Assert.Equal(StunErrorCodes.TryAlternate, StunTestClient.Code(redirected));

        using var udp = new StunUdpClient(aux);
        using StunStreamClient tcp = await StunStreamClient.ConnectAsync(aux);
        Assert.Equal(IPAddress.Loopback, (await udp.AllocateAsync()).ToIPAddress());
        Assert.Equal(IPAddress.Loopback, (await tcp.AllocateAsync()).ToIPAddress());
        Assert.Equal(2, server.Engine.Allocations.Count);
    }

    /// <summary>
    /// Over TLS too. Regression there: the answer went through the send loop that writes one STUN or ChannelData
    /// message per record, which read "HT" as a ChannelData header with a 21,588-byte length and waited for the rest,
    /// so nothing was written.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Http_on_the_turn_port_gets_the_acme_redirect_or_400_as_configured(bool tls)
    {
        string[] http01 = ["--acme-redirect=http://acme.example.net/challenges/", "--respond-http-unsupported"];
        await using TestServer server = await TestServer.StartAsync(tls ? [.. _certificate.Options, .. http01] : http01);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        }) { Timeout = EventTimeout };
        IPEndPoint port = tls ? server.TlsEndPoints[0] : server.TcpEndPoints[0];
        string origin = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(tls ? "https" : "http")}://127.0.0.1:{port.Port}");

        using HttpResponseMessage challenge = await http.GetAsync($"{origin}/.well-known/acme-challenge/Tok3n-x");
        using HttpResponseMessage other = await http.GetAsync($"{origin}/");

        Assert.Equal(HttpStatusCode.MovedPermanently, challenge.StatusCode);
        Assert.Equal(new Uri("http://acme.example.net/challenges/Tok3n-x"), challenge.Headers.Location);
        Assert.Equal(HttpStatusCode.BadRequest, other.StatusCode);
        Assert.Contains("TURN", await other.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The port still speaks TURN.
        using StunStreamClient client = await StunStreamClient.ConnectAsync(port, tls ? _certificate.Certificate : null);
        await client.AllocateAsync();
    }

    [Fact]
    public async Task Http_on_the_turn_port_is_closed_at_once_by_default()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient { Timeout = EventTimeout };

        var stopwatch = Stopwatch.StartNew();
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{server.TcpEndPoints[0].Port}/"));

        Assert.True(stopwatch.Elapsed < EventTimeout, "closed, not held until max-allocate-timeout");
        Assert.InRange(server.Engine.Counters.GetDropped(Core.Diagnostics.DropReason.UnknownPacket), 1, 5); // HttpClient retries a closed GET a few times
    }

    private async Task<StunStreamClient> ConnectAsync(TestServer server, bool tls) =>
        tls
            ? await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], _certificate.Certificate)
            : await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);

    /// <summary>A TLS handshake with the listener at <paramref name="endPoint"/> accepting any certificate; what it settled on.</summary>
    private static async Task<(TlsCipherSuite Suite, SslProtocols Protocol)> NegotiateAsync(IPEndPoint endPoint, SslProtocols protocols)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endPoint);
        using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        using var timeout = new CancellationTokenSource(EventTimeout);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", EnabledSslProtocols = protocols }, timeout.Token);
        return (tls.NegotiatedCipherSuite, tls.SslProtocol);
    }
}
