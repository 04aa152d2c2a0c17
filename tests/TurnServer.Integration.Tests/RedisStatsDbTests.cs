using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Services;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// coTURN's redis-statsdb, read as an operator's dashboard or billing job reads it: <c>redis-cli psubscribe</c> on
/// coTURN's channels while Debian's turnutils_uclient relays through the server, and the status keys left in Redis.
/// The expected words are those Debian's coTURN 4.6.1 publishes for the same uclient run.
/// </summary>
public sealed partial class RedisStatsDbTests
{
    private const int Messages = 200;
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(30);
    private static readonly HttpClient Http = new();

    /// <summary>
    /// Each allocation's status key is set and published as "new", then "refreshed" on each Refresh; at the end the
    /// key is deleted and "deleted" published, then the totals. Traffic is reported while the session runs, and the
    /// reports add up to the totals, which are the server's own counters; the peer saw every message.
    /// </summary>
    [Fact]
    public async Task Uclient_sessions_are_published_in_coturns_keys_and_words_and_traffic_adds_up()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        using RedisSubscription subscription = await redis.SubscribeAsync("turn/*");
        await using TestServer server = await TestServer.StartAsync(
            "--redis-statsdb=" + redis.ConnInfo, "--prometheus", "--prometheus-address=127.0.0.1", "--prometheus-port=0");
        // coTURN reports every 4096 packets; uclient at its own pace (one message per 20 ms) sends 800 per allocation in 4 s,
        // so a lower threshold has the reports made mid-session without a burst rate that tests UDP buffers instead.
        server.Host.Services.GetRequiredService<RedisStatsPublisher>().ReportPackets = 64;
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();

        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            ["-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", Text(peer.Port), "-p", Text(server.Port),
             "-n", Text(Messages), "-m", "1", "-l", "170", "127.0.0.1"],
            TimeSpan.FromSeconds(120));
        UclientOutput.AssertNoLoss(result, 2 * Messages); // one client is two allocations relaying to the peer, -n messages each

        // uclient deletes its two relaying allocations (and leaves the probe it made first to expire).
        IReadOnlyList<(string Channel, string Message)> messages = await subscription.WaitForAsync(
            m => m.Count(x => x.Channel.EndsWith("/total_traffic/peer", StringComparison.Ordinal)) == 2, EventWait);
        Dictionary<long, Allocation> allocations = server.Events.Created.ToDictionary(a => a.SessionId);
        var sessions = messages.Select(m => Channel().Match(m.Channel)).Select(m =>
        {
            Assert.True(m.Success, "not coTURN's channel layout: " + m.Value);
            return long.Parse(m.Groups["session"].Value, CultureInfo.InvariantCulture);
        }).Distinct().ToList();
        Assert.Equal(allocations.Keys.Order(), sessions.Order());

        int deleted = 0;
        foreach (long session in sessions)
        {
            string prefix = $"turn/realm/{TestServer.Realm}/user/{TestServer.User}/allocation/{session:D18}/";
            List<(string Kind, string Message)> events = [.. messages.Where(m => m.Channel.StartsWith(prefix, StringComparison.Ordinal)).Select(m => (m.Channel[prefix.Length..], m.Message))];
            List<string> statuses = [.. events.Where(e => e.Kind == "status").Select(e => e.Message)];
            FiveTuple fiveTuple = allocations[session].FiveTuple;
            string connection = $", type=UDP, local={fiveTuple.ServerAddress}, remote={fiveTuple.ClientAddress}, ssl=NONE, cipher=NONE";
            Assert.Equal("new lifetime=777" + connection, statuses[0]);
            Assert.Equal("refreshed lifetime=777" + connection, statuses[1]);
            if (statuses[^1] != "deleted")
            {
                Assert.Equal(statuses[^1], await redis.CliAsync("GET", prefix + "status")); // the probe: live, its key current
                continue;
            }

            deleted++;
            Assert.Equal("refreshed lifetime=0" + connection, statuses[^2]);
            Assert.Equal("0", await redis.CliAsync("EXISTS", prefix + "status"));
            int end = events.IndexOf(("status", "refreshed lifetime=0" + connection));
            Assert.Contains(events.Take(end), e => e.Kind == "traffic"); // reported while the session ran
            Assert.Equal(["status", "total_traffic", "total_traffic/peer"], events.TakeLast(3).Select(e => e.Kind));

            // The totals are the server's own counters in coTURN's words; the client side also carried the requests.
            TrafficTotals c = TrafficTotals.Of(allocations[session]);
            Assert.Equal(
                $"rcvp={c.ClientPacketsReceived}, rcvb={c.ClientBytesReceived}, sentp={c.ClientPacketsSent}, sentb={c.ClientBytesSent}",
                events.Single(e => e.Kind == "total_traffic").Message);
            Assert.Equal(
                $"rcvp={c.PeerPacketsReceived}, rcvb={c.PeerBytesReceived}, sentp={c.PeerPacketsSent}, sentb={c.PeerBytesSent}",
                events.Single(e => e.Kind == "total_traffic/peer").Message);
            Assert.InRange(c.ClientPacketsReceived, Messages + 1, Messages + 20);
            Assert.InRange(c.ClientBytesReceived, Messages * (170L + 4), Messages * (170L + 40) + 20 * 200);
            Assert.InRange(c.ClientPacketsSent, Messages, Messages + 20);
            Assert.Equal(Sum(events, "total_traffic"), Sum(events, "traffic"));
            Assert.Equal(Sum(events, "total_traffic/peer"), Sum(events, "traffic/peer"));
            Assert.Equal([Messages, Messages * 170L, Messages, Messages * 170L], Sum(events, "total_traffic/peer")); // every message to the peer and back
        }

        Assert.Equal(2, deleted);
        PrometheusText scrape = PrometheusText.Parse(await Http.GetStringAsync(new Uri(server.MetricsBase, "/metrics")));
        Assert.True(scrape.Value("turnserver_redis_statsdb_records_total") > 0); // the "new" records, written long before
        Assert.Equal(0, scrape.Value("turnserver_redis_statsdb_records_dropped_total"));
    }

    /// <summary>
    /// Over TLS and DTLS the status names the transport as coTURN does (TLS/TCP, DTLS) and the protocol and cipher suite
    /// the session negotiated, in OpenSSL's names (uclient's TLS sessions run 1.2 or 1.3, as with coTURN).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Tls_and_dtls_sessions_name_their_protocol_and_cipher_in_openssl_words(bool tcp)
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        using RedisSubscription subscription = await redis.SubscribeAsync("turn/*");
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(["--redis-statsdb=" + redis.ConnInfo, .. certificate.Options]);
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        int port = tcp ? server.TlsEndPoints[0].Port : server.DtlsEndPoints[0].Port;
        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            [.. tcp ? new[] { "-t" } : [], "-S", "-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", Text(peer.Port), "-p", Text(port),
             "-n", "10", "-m", "1", "-l", "170", "127.0.0.1"],
            TimeSpan.FromSeconds(60));
        UclientOutput.AssertNoLoss(result, 20);

        IReadOnlyList<(string Channel, string Message)> messages = await subscription.WaitForAsync(
            m => m.Count(x => x.Message.StartsWith("new ", StringComparison.Ordinal)) == server.Events.Created.Count, EventWait);
        Regex expected = tcp
            ? new Regex(@"^new lifetime=777, type=TLS/TCP, local=127\.0\.0\.1:" + port + @", remote=127\.0\.0\.1:\d+, ssl=(TLSv1\.3, cipher=TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)|TLSv1\.2, cipher=ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305))$")
            : new Regex(@"^new lifetime=777, type=DTLS, local=127\.0\.0\.1:" + port + @", remote=127\.0\.0\.1:\d+, ssl=DTLSv1\.2, cipher=ECDHE-(RSA|ECDSA)-AES(128|256)-GCM-SHA(256|384)$");
        Assert.All(messages.Where(m => m.Message.StartsWith("new ", StringComparison.Ordinal)), m => Assert.True(expected.IsMatch(m.Message), m.Message));
    }

    /// <summary>
    /// Redis unreachable: clients relay as ever, the records are dropped and counted, and the server still stops
    /// cleanly.
    /// </summary>
    [Fact]
    public async Task An_unreachable_statsdb_drops_and_counts_records_and_never_holds_up_the_relay()
    {
        // Port 1, as in the other unreachable-server tests: privileged, so no test server can be listening there.
        const string conninfo = "ip=127.0.0.1 port=1 connect_timeout=1";
        await using TestServer server = await TestServer.StartAsync("--redis-statsdb=" + conninfo);
        RedisStatsPublisher publisher = server.Host.Services.GetRequiredService<RedisStatsPublisher>();
        using (TurnutilsPeer peer = await TurnutilsPeer.StartAsync())
        {
            ToolResult result = await ExternalProcess.RunAsync(
                "turnutils_uclient",
                ["-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", Text(peer.Port), "-p", Text(server.Port), "-n", "50", "-m", "4", "-l", "170", "127.0.0.1"],
                TimeSpan.FromSeconds(60));
            UclientOutput.AssertNoLoss(result, 200);
        }

        await server.StopAsync(CancellationToken.None);

        Assert.Equal(0, publisher.Written);
        Assert.True(publisher.Dropped >= server.Events.Created.Count * 2, $"dropped {publisher.Dropped}"); // at least each "new" SET and PUBLISH
    }

    private static long[] Sum(List<(string Kind, string Message)> events, string kind) =>
        events.Where(e => e.Kind == kind).Select(e => Counts().Match(e.Message)).Aggregate(new long[4], (sum, m) =>
        {
            Assert.True(m.Success, "not coTURN's counts: " + m.Value);
            for (int i = 0; i < 4; i++)
            {
                sum[i] += long.Parse(m.Groups[i + 1].Value, CultureInfo.InvariantCulture);
            }

            return sum;
        });

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^turn/realm/example\.org/user/alice/allocation/(?<session>\d{18})/(status|traffic|traffic/peer|total_traffic|total_traffic/peer)$")]
    private static partial Regex Channel();

    [GeneratedRegex(@"^rcvp=(\d+), rcvb=(\d+), sentp=(\d+), sentb=(\d+)$")]
    private static partial Regex Counts();
}
