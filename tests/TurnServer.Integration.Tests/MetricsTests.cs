using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using TurnServer.Hosting.Metrics;
using TurnServer.Hosting.Tests.Dtls;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>The Prometheus listener scraped over HTTP on loopback, while the server relays real UDP traffic.</summary>
public sealed class MetricsTests : IDisposable
{
    private static readonly string[] PrometheusFlags = ["--prometheus", "--prometheus-address=127.0.0.1", "--prometheus-port=0"];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task A_scrape_has_coturns_metric_names_in_valid_text_format_and_traffic_moves_during_the_session()
    {
        await using TestServer server = await TestServer.StartAsync(PrometheusFlags);
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        Assert.Equal(0, StunUdpClient.Code(await client.RequestAsync(StunMethod.Binding)));

        // As in coTURN, the client's traffic counts every message on the allocation at its full size, starting with
        // the Allocate that created it and its answer; the 401 challenge before came with no allocation.
        StunTestClient.Attributes udp = (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
        byte[] challenge = await client.ExchangeAsync(client.Build(StunMethod.Allocate, udp, TransactionId.NewRandom(), sign: false));
        Assert.Equal(401, StunUdpClient.Code(challenge));
        client.UseNonceFrom(challenge);
        byte[] allocate = client.Build(StunMethod.Allocate, udp, TransactionId.NewRandom(), sign: true);
        byte[] allocated = await client.ExchangeAsync(allocate);
        Assert.Equal(0, StunUdpClient.Code(allocated));
        TransportAddress peerAddress = TransportAddress.FromEndPoint(peer.EndPoint);
        byte[] channelBind = client.Build(StunMethod.ChannelBind, (ref StunMessageWriter w) =>
        {
            w.WriteChannelNumber(0x4001);
            w.WriteXorAddress(StunAttributeType.XorPeerAddress, peerAddress);
        }, TransactionId.NewRandom(), sign: true);
        byte[] channelBound = await client.ExchangeAsync(channelBind);
        Assert.Equal(0, StunUdpClient.Code(channelBound));
        var frame = new byte[4 + 100];
        ChannelData.WriteHeader(frame, 0x4001, 100);
        for (int i = 0; i < 3; i++)
        {
            client.SendRaw(frame);
            Assert.Equal(frame, await client.ReceiveAsync()); // echoed back through the relay
        }

        client.SendRaw([0xFF, 0xFF, 0xFF]); // neither STUN nor ChannelData
        byte[] binding = client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false);
        byte[] bound = await client.ExchangeAsync(binding); // handled after the junk
        Assert.Equal(0, StunUdpClient.Code(bound));

        using HttpResponseMessage response = await _http.GetAsync(new Uri(server.MetricsBase, "/metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        MediaTypeHeaderValue contentType = response.Content.Headers.ContentType!;
        Assert.Equal("text/plain", contentType.MediaType);
        Assert.Contains(contentType.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        PrometheusText scrape = PrometheusText.Parse(await response.Content.ReadAsStringAsync());

        (string, string) realm = ("realm", TestServer.Realm);
        Assert.Equal(2, scrape.Value("stun_binding_request"));
        Assert.Equal(2, scrape.Value("stun_binding_response"));
        Assert.Equal(0, scrape.Value("stun_binding_error"));
        Assert.Equal(1 + 1 + 3 + 1, scrape.Value("turn_traffic_rcvp", realm));
        Assert.Equal(allocate.Length + channelBind.Length + (3 * 104) + binding.Length, scrape.Value("turn_traffic_rcvb", realm));
        Assert.Equal(1 + 1 + 3 + 1, scrape.Value("turn_traffic_sentp", realm));
        Assert.Equal(allocated.Length + channelBound.Length + (3 * 104) + bound.Length, scrape.Value("turn_traffic_sentb", realm));
        Assert.Equal(3, scrape.Value("turn_traffic_peer_sentp", realm));
        Assert.Equal(300, scrape.Value("turn_traffic_peer_sentb", realm));
        Assert.Equal(3, scrape.Value("turn_traffic_peer_rcvp", realm));
        Assert.Equal(300, scrape.Value("turn_traffic_peer_rcvb", realm));
        Assert.Equal(6, scrape.Value("turn_total_traffic_rcvp"));
        Assert.Equal(300, scrape.Value("turn_total_traffic_peer_rcvb"));
        Assert.Equal(1, scrape.Value("turn_total_allocations", ("type", "UDP")));
        Assert.Equal(0, scrape.Value("turn_total_allocations", ("type", "TLS/TCP")));
        Assert.Equal(1, scrape.Value("turn_packet_dropped", ("reason", "unknown_packet")));
        Assert.True(scrape.Value("turn_packet_processed") >= 5);
        Assert.Equal(1, scrape.Value("turnserver_auth_failures_total", ("reason", "challenge")));
        Assert.Equal(1, scrape.Value("turnserver_relay_ports_in_use"));
        Assert.Equal(server.Engine.Ports.Capacity - 1, scrape.Value("turnserver_relay_ports_free"));
        Assert.Equal("counter", scrape.Types["turn_traffic_rcvp"]);
        Assert.Equal("gauge", scrape.Types["turn_total_allocations"]);
        Assert.Equal("histogram", scrape.Types["turnserver_allocation_lifetime_seconds"]);
        Assert.Equal("counter", scrape.Types["turnserver_log_events_dropped_total"]);
        Assert.Equal(0, scrape.Value("turnserver_log_events_dropped_total"));
        Assert.True(scrape.Value("process_resident_memory_bytes") > 0);
        Assert.True(scrape.Value("process_open_fds") > 0);
        Assert.Contains(scrape.Types.Keys, name => name.StartsWith("dotnet_gc_", StringComparison.Ordinal));
        Assert.DoesNotContain("user", scrape.LabelSets("turn_traffic_rcvp").Single().Keys);

        // Deleting the allocation moves its traffic to the finished sessions: the counters do not drop.
        Assert.Equal(0, StunUdpClient.Code(await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));
        PrometheusText after = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.Equal(6, after.Value("turn_traffic_rcvp", realm));
        Assert.Equal(0, after.Value("turn_total_allocations", ("type", "UDP")));
        Assert.Equal(1, after.Value("turnserver_allocation_lifetime_seconds_count"));
        Assert.Equal(1, after.Value("turnserver_allocation_lifetime_seconds_bucket", ("le", "+Inf")));
    }

    /// <summary>DTLS handshakes, sessions and drops, which the engine's counters never see, are scraped too.</summary>
    [Fact]
    public async Task Dtls_handshakes_sessions_and_drops_by_reason_are_scraped()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync([.. PrometheusFlags, .. certificate.Options]);
        using Socket socket = StunDtlsClient.BoundSocket();

        // Application data from an address with no session is dropped; the same address's handshake comes after it.
        socket.SendTo(DtlsTestRecords.Record(23, DtlsTestRecords.Dtls12, 1, new byte[40]), server.DtlsEndPoints[0]);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0], socket: socket);
        await client.AllocateAsync();

        PrometheusText scrape = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.Equal(1, scrape.Value("turnserver_dtls_handshakes_started_total"));
        Assert.Equal(1, scrape.Value("turnserver_dtls_handshakes_completed_total"));
        Assert.Equal(1, scrape.Value("turnserver_dtls_sessions"));
        Assert.Equal(1, scrape.Value("turnserver_dtls_dropped_total", ("reason", "not_client_hello")));
        Assert.Equal(0, scrape.Value("turnserver_dtls_dropped_total", ("reason", "flight_limit")));
        Assert.Equal("counter", scrape.Types["turnserver_dtls_dropped_total"]);
        Assert.Equal("gauge", scrape.Types["turnserver_dtls_sessions"]);
        Assert.Equal(1, scrape.Value("turn_total_allocations", ("type", "DTLS")));
    }

    /// <summary>
    /// TLS handshakes and connections that end before they are set up, which are logged only at Debug level, are
    /// scraped: a handshake that works, TLS bytes that make no handshake, and a connection closed before its first byte.
    /// </summary>
    [Fact]
    public async Task Tls_handshakes_and_failed_connection_setups_are_scraped_by_reason()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync([.. PrometheusFlags, .. certificate.Options]);
        using (StunStreamClient tls = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], certificate.Certificate))
        {
            Assert.Equal(0, StunTestClient.Code(await tls.RequestAsync(StunMethod.Binding)));
        }

        using (var broken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await broken.ConnectAsync(server.TlsEndPoints[0]);
            await broken.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0xFF, 0xFF, 0xFF, 0xFF }); // a handshake record holding no handshake message
            byte[] answer = await ReadToCloseAsync(broken);
            Assert.Equal(0x15, Assert.Single(answer[..1])); // a TLS alert record, then the close
        }

        using (var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await silent.ConnectAsync(server.TlsEndPoints[0]);
            silent.Shutdown(SocketShutdown.Send);
        }

        PrometheusText scrape = null!;
        await Poll.UntilAsync(
            async () =>
            {
                scrape = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
                return scrape.Value("turnserver_connection_setup_failures_total", ("reason", "closed")) == 1;
            },
            TimeSpan.FromSeconds(10),
            "the silent connection counted as closed");
        Assert.Equal(2, scrape.Value("turnserver_tls_handshakes_started_total"));
        Assert.Equal(1, scrape.Value("turnserver_tls_handshakes_completed_total"));
        Assert.Equal(1, scrape.Value("turnserver_connection_setup_failures_total", ("reason", "tls_handshake")));
        Assert.Equal(0, scrape.Value("turnserver_connection_setup_failures_total", ("reason", "timeout")));
        Assert.Equal(0, scrape.Value("turnserver_connection_setup_failures_total", ("reason", "proxy_header")));
        Assert.Equal("counter", scrape.Types["turnserver_connection_setup_failures_total"]);
    }

    [Fact]
    public async Task Username_labels_split_traffic_per_user()
    {
        await using TestServer server = await TestServer.StartAsync([.. PrometheusFlags, "--prometheus-username-labels", "--user=bob:builder"]);
        using (var alice = new StunUdpClient(server.UdpEndPoint))
        using (var bob = new StunUdpClient(server.UdpEndPoint, "bob", "builder"))
        {
            await alice.AllocateAsync();
            await bob.AllocateAsync();
        }

        PrometheusText scrape = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));

        Assert.Equal(["alice", "bob"], scrape.LabelSets("turn_traffic_rcvp").Select(l => l["user"]).Order());
        Assert.All(scrape.LabelSets("turn_traffic_peer_sentb"), l => Assert.Equal(TestServer.Realm, l["realm"]));
        Assert.Equal(2, scrape.Value("turn_total_allocations", ("type", "UDP")));
    }

    /// <summary>
    /// Ended sessions keep a series per user only up to the cap (10,000 in service, 2 here): the traffic of later
    /// users is counted under one "(others)" series, so REST usernames, new every session, cannot grow the scrape
    /// and the server's memory without end.
    /// </summary>
    [Fact]
    public async Task Ended_users_past_the_series_cap_are_counted_under_one_series()
    {
        await using TestServer server = await TestServer.StartAsync(
            [.. PrometheusFlags, "--prometheus-username-labels", "--user=bob:builder", "--user=carol:singer"],
            s => s.AddSingleton(_ => new TurnMetrics(TestServer.Realm, userLabels: true, TimeProvider.System, maxUserSeries: 2)));
        foreach ((string user, string password) in new[] { (TestServer.User, TestServer.Password), ("bob", "builder"), ("carol", "singer") })
        {
            using var client = new StunUdpClient(server.UdpEndPoint, user, password);
            await client.AllocateAsync();
            byte[] deleted = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0));
            Assert.Equal(0, StunUdpClient.Code(deleted));
        }

        PrometheusText scrape = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.Equal(["(others)", "alice", "bob"], scrape.LabelSets("turn_traffic_rcvp").Select(l => l["user"]).Order(StringComparer.Ordinal));
        // Each user's session was the same exchange, so carol's traffic, under "(others)", equals alice's.
        double alice = scrape.Value("turn_traffic_rcvp", ("realm", TestServer.Realm), ("user", "alice"));
        Assert.True(alice > 0);
        Assert.Equal(alice, scrape.Value("turn_traffic_rcvp", ("realm", TestServer.Realm), ("user", "(others)")));
        Assert.Equal(3 * alice, scrape.Value("turn_total_traffic_rcvp"));
    }

    /// <summary>
    /// Regression: the cap held only for ended sessions; every new user with a live session got series of its own,
    /// which the exporter keeps, so REST usernames grew the scrape without end. Now live users past the cap count under
    /// "(others)" too, and when their sessions end their traffic stays there, counted once.
    /// </summary>
    [Fact]
    public async Task Live_users_past_the_series_cap_are_counted_under_one_series_and_once_when_they_end()
    {
        await using TestServer server = await TestServer.StartAsync(
            [.. PrometheusFlags, "--prometheus-username-labels", "--user=bob:builder", "--user=carol:singer"],
            s => s.AddSingleton(_ => new TurnMetrics(TestServer.Realm, userLabels: true, TimeProvider.System, maxUserSeries: 2)));
        var clients = new List<StunUdpClient>();
        foreach ((string user, string password) in new[] { (TestServer.User, TestServer.Password), ("bob", "builder"), ("carol", "singer") })
        {
            var client = new StunUdpClient(server.UdpEndPoint, user, password);
            clients.Add(client);
            await client.AllocateAsync();
        }

        // Which two of the three live users keep series of their own is the allocation table's order; one is "(others)".
        PrometheusText live = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        string[] labelled = [.. live.LabelSets("turn_traffic_rcvp").Select(l => l["user"]).Order(StringComparer.Ordinal)];
        Assert.Equal(3, labelled.Length);
        Assert.Equal("(others)", labelled[0]);
        Assert.Subset(new HashSet<string> { "alice", "bob", "carol" }, labelled[1..].ToHashSet());

        foreach (StunUdpClient client in clients)
        {
            byte[] deleted = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0));
            Assert.Equal(0, StunUdpClient.Code(deleted));
            client.Dispose();
        }

        // The same series once the sessions ended; each user's exchange was the same, so "(others)" holds one user's.
        PrometheusText ended = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.Equal(labelled, ended.LabelSets("turn_traffic_rcvp").Select(l => l["user"]).Order(StringComparer.Ordinal));
        double one = ended.Value("turn_traffic_rcvp", ("realm", TestServer.Realm), ("user", labelled[1]));
        Assert.True(one > 0);
        Assert.Equal(one, ended.Value("turn_traffic_rcvp", ("realm", TestServer.Realm), ("user", labelled[2])));
        Assert.Equal(one, ended.Value("turn_traffic_rcvp", ("realm", TestServer.Realm), ("user", "(others)")));
        Assert.Equal(3 * one, ended.Value("turn_total_traffic_rcvp"));
    }

    [Fact]
    public async Task Healthz_turns_503_while_draining_and_other_paths_answer_as_coturns_listener()
    {
        await using TestServer server = await TestServer.StartAsync(PrometheusFlags);
        Uri health = new(server.MetricsBase, "/healthz");

        using (HttpResponseMessage ok = await _http.GetAsync(health))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("ok\n", await ok.Content.ReadAsStringAsync());
        }

        Assert.Equal("ok\n", await _http.GetStringAsync(server.MetricsBase));
        using (HttpResponseMessage missing = await _http.GetAsync(new Uri(server.MetricsBase, "/nothing")))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        using (HttpResponseMessage post = await _http.PostAsync(new Uri(server.MetricsBase, "/metrics"), new StringContent("")))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        }

        server.Engine.BeginDrain();

        using HttpResponseMessage draining = await _http.GetAsync(health);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, draining.StatusCode);
        Assert.Equal("draining\n", await draining.Content.ReadAsStringAsync());
        PrometheusText scrape = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.Equal(1, scrape.Value("turnserver_draining"));
    }

    /// <summary>
    /// The metrics listener keeps at most 64 connections, so a flood of them cannot take the relay's descriptors; the
    /// connections come from several loopback addresses, as each address may hold only a quarter of them.
    /// </summary>
    [Fact]
    public async Task The_metrics_listener_closes_connections_beyond_its_limit_unanswered()
    {
        await using TestServer server = await TestServer.StartAsync(PrometheusFlags);
        var endPoint = new IPEndPoint(IPAddress.Loopback, server.MetricsBase.Port);
        var metrics = server.Host.Services.GetRequiredService<Hosting.Metrics.MetricsHttpServer>();
        int limit = metrics.ConnectionLimit;
        byte[] request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray();
        var held = new List<Socket>();
        try
        {
            for (int i = 0; i <= limit; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                socket.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + (i / metrics.ConnectionLimitPerAddress)}"), 0));
                await socket.ConnectAsync(endPoint);
                await socket.SendAsync(request);
                string answer = await ReadAnswerAsync(socket);
                if (i < limit)
                {
                    Assert.StartsWith("HTTP/1.1 200 OK", answer, StringComparison.Ordinal); // kept alive, so it stays counted
                }
                else
                {
                    Assert.Equal(string.Empty, answer);
                }
            }
        }
        finally
        {
            held.ForEach(socket => socket.Dispose());
        }
    }

    /// <summary>
    /// Regression: one host holding every connection kept Prometheus and load-balancer probes out; now each address
    /// may hold a quarter of them, and another address is still answered.
    /// </summary>
    [Fact]
    public async Task One_address_cannot_hold_every_metrics_connection()
    {
        await using TestServer server = await TestServer.StartAsync(PrometheusFlags);
        var endPoint = new IPEndPoint(IPAddress.Loopback, server.MetricsBase.Port);
        int perAddress = server.Host.Services.GetRequiredService<Hosting.Metrics.MetricsHttpServer>().ConnectionLimitPerAddress;
        byte[] request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray();
        var held = new List<Socket>();
        try
        {
            for (int i = 0; i <= perAddress; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(endPoint);
                await socket.SendAsync(request);
                string answer = await ReadAnswerAsync(socket);
                Assert.True(i < perAddress ? answer.StartsWith("HTTP/1.1 200 OK", StringComparison.Ordinal) : answer.Length == 0, $"connection {i}: {answer}");
            }

            using HttpResponseMessage probe = await _http.GetAsync(new Uri(server.MetricsBase, "/healthz"));
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        }
        finally
        {
            held.ForEach(socket => socket.Dispose());
        }
    }

    /// <summary>turn_total_allocations by coTURN's type labels: one live allocation over each client transport.</summary>
    [Fact]
    public async Task Allocations_are_counted_by_client_transport()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync([.. PrometheusFlags, .. certificate.Options]);
        using var udp = new StunUdpClient(server.UdpEndPoint);
        using StunStreamClient tcp = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        using StunStreamClient tls = await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], certificate.Certificate);
        using StunDtlsClient dtls = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await udp.AllocateAsync();
        await tcp.AllocateAsync();
        await tls.AllocateAsync();
        await dtls.AllocateAsync();

        PrometheusText scrape = PrometheusText.Parse(await _http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.All(new[] { "UDP", "TCP", "TLS/TCP", "DTLS" }, type => Assert.Equal(1, scrape.Value("turn_total_allocations", ("type", type))));
    }

    /// <summary>Reads what the server sends until it closes the connection (bounded: 10 s, 64 KiB).</summary>
    private static async Task<byte[]> ReadToCloseAsync(Socket socket)
    {
        var received = new List<byte>();
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (received.Count < 65536)
        {
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, read));
        }

        return [.. received];
    }

    /// <summary>Reads one HTTP answer's head (up to the blank line), or nothing when the server closes or resets first.</summary>
    private static async Task<string> ReadAnswerAsync(Socket socket)
    {
        var text = new StringBuilder();
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!text.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    [Fact]
    public async Task Without_the_prometheus_option_nothing_listens()
    {
        await using TestServer server = await TestServer.StartAsync();
        Assert.Null(server.Host.Services.GetService(typeof(Hosting.Metrics.MetricsHttpServer)));
    }
}
