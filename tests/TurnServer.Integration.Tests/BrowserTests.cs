using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Xunit.Abstractions;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Integration.Tests.Infrastructure;

namespace TurnServer.Integration.Tests;

/// <summary>One headless Chromium for all browser tests; each test gets its own browser context.</summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    internal HeadlessChromium Chromium { get; private set; } = null!;

    public async Task InitializeAsync() => Chromium = await HeadlessChromium.StartAsync();

    public async Task DisposeAsync() => await Chromium.DisposeAsync();
}

/// <summary>
/// The browser end to end: one page, two RTCPeerConnections whose only ICE servers are this server and whose
/// iceTransportPolicy is 'relay', so the data channel between them can only run relay to relay through it.
/// </summary>
public sealed class BrowserTests(ChromiumFixture fixture, ITestOutputHelper output) : IClassFixture<ChromiumFixture>
{
    private const string PageUrl = "http://127.0.0.1/call.html";
    private const int CallTimeoutMs = 30_000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Chromium_relays_a_data_channel_over_turn_udp_with_long_term_credentials()
    {
        await using TestServer server = await TestServer.StartAsync();
        string url = "turn:127.0.0.1:" + Text(server.Port) + "?transport=udp";

        await CallAndCheckAsync(server, url, TestServer.User, TestServer.Password, "udp", TransportProtocol.Udp);
    }

    [Fact]
    public async Task Chromium_relays_a_data_channel_with_turn_rest_credentials()
    {
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + TestServer.Realm, "--use-auth-secret",
            "--static-auth-secret=" + TestServer.RestSecret, "--allow-loopback-peers", "--no-stdout-log");
        string url = "turn:127.0.0.1:" + Text(server.Port) + "?transport=udp";
        string username = Text(DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds()) + ":browser-user";
        string credential = Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(TestServer.RestSecret), Encoding.UTF8.GetBytes(username)));

        await CallAndCheckAsync(server, url, username, credential, "udp", TransportProtocol.Udp);
    }

    [Fact]
    public async Task Chromium_relays_a_data_channel_over_turn_tcp()
    {
        int port = FreeTcpAndUdpPort();
        await using TestServer server = await TestServer.StartAsync("--listening-port=" + Text(port));
        string url = "turn:127.0.0.1:" + Text(port) + "?transport=tcp";

        await CallAndCheckAsync(server, url, TestServer.User, TestServer.Password, "tcp", TransportProtocol.Tcp);
    }

    [Fact]
    public async Task Chromium_relays_a_data_channel_over_turns_tls_with_a_self_signed_certificate()
    {
        DirectoryInfo directory = Directory.CreateTempSubdirectory("turnserver-tls-");
        try
        {
            (string cert, string key) = WriteSelfSignedCertificate(directory.FullName);
            int tlsPort = FreeTcpAndUdpPort();
            await using TestServer server = await TestServer.StartAsync(
                "--tls-listening-port=" + Text(tlsPort), "--cert=" + cert, "--pkey=" + key);
            string url = "turns:127.0.0.1:" + Text(tlsPort) + "?transport=tcp";

            await CallAndCheckAsync(server, url, TestServer.User, TestServer.Password, "tls", TransportProtocol.Tls);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Chromium_with_a_wrong_password_gets_no_relay_candidate_and_does_not_connect()
    {
        await using TestServer server = await TestServer.StartAsync();
        string url = "turn:127.0.0.1:" + Text(server.Port) + "?transport=udp";

        (CallResult result, string context) = await RunCallAsync(server, url, TestServer.User, "not-the-password", [new("never sent", null)], []);

        Assert.False(result.Connected, context);
        Assert.Empty(result.Candidates.A);
        Assert.Empty(result.Candidates.B);
        // Chromium reports the server's final 401 (after answering the first challenge) as a candidate error.
        Assert.Contains(result.CandidateErrors, e => e.ErrorCode == 401 && e.Url == url);
        Assert.True(server.Engine.Counters.GetAuthFailures(AuthFailureReason.BadIntegrity) >= 1, context);
        Assert.Equal(0, server.Engine.Allocations.Count);
        Assert.Equal(0, server.Engine.GetTrafficTotals().PeerPacketsSent);
    }

    private async Task CallAndCheckAsync(TestServer server, string url, string username, string credential, string relayProtocol, TransportProtocol transport)
    {
        List<WireMessage> toB = Messages("a to b");
        List<WireMessage> toA = Messages("b to a");

        (CallResult result, string context) = await RunCallAsync(server, url, username, credential, toB, toA);

        Assert.True(result.Connected && result.Error is null, context);
        Assert.Equal(toB, result.ReceivedAtB);
        Assert.Equal(toA, result.ReceivedAtA);

        // Both ends chose relay to relay, each through an allocation on this server over the variant's transport.
        Assert.NotNull(result.Selected);
        foreach (SelectedPair? pair in new[] { result.Selected.A, result.Selected.B })
        {
            Assert.NotNull(pair);
            Assert.Equal("relay", pair.LocalType);
            Assert.Equal("relay", pair.RemoteType);
            Assert.Equal(relayProtocol, pair.RelayProtocol);
            Assert.Equal("127.0.0.1", pair.LocalAddress);
            Assert.Equal(url, pair.Url);
        }

        Assert.Equal(result.Selected.A!.LocalPort, result.Selected.B!.RemotePort);
        Assert.Equal(result.Selected.B.LocalPort, result.Selected.A.RemotePort);
        Assert.NotNull(result.ServerAllocations);
        foreach (int relayPort in new[] { result.Selected.A.LocalPort, result.Selected.B.LocalPort })
        {
            ServerAllocation? allocation = result.ServerAllocations.Find(a => a.RelayPort == relayPort);
            Assert.True(allocation is not null, $"no allocation on the server relays from port {relayPort}\n{context}");
            Assert.Equal(transport, allocation.Transport);
            Assert.True(allocation.PeerPacketsSent > 0 && allocation.ClientPacketsSent > 0, $"relay port {relayPort} carried no data both ways\n{context}");
        }

        Assert.True(result.AllocationsLeftAfterClose == 0, "allocations not released after the peer connections closed\n" + context);
    }

    /// <summary>
    /// Runs the page's call, snapshots the server's allocations while it is up, then closes both peer connections and
    /// counts the allocations still on the server once Chromium has had time to release them. Returns the result and,
    /// for assertion messages, the page's JSON with what Chromium's TURN client logged meanwhile.
    /// </summary>
    private async Task<(CallResult Result, string Context)> RunCallAsync(
        TestServer server, string url, string username, string credential, List<WireMessage> toB, List<WireMessage> toA)
    {
        int logStart = fixture.Chromium.Log.Length;
        IBrowserContext context = await fixture.Chromium.Browser.NewContextAsync();
        try
        {
            string html = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Browser", "call.html"));
            await context.RouteAsync(PageUrl, route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html; charset=utf-8", Body = html }));
            IPage page = await context.NewPageAsync();
            await page.GotoAsync(PageUrl);
            var config = new
            {
                iceServers = new[] { new { urls = url, username, credential } },
                toB = toB.Select(ToPage).ToArray(),
                toA = toA.Select(ToPage).ToArray(),
                timeoutMs = CallTimeoutMs,
            };
            JsonElement element = await page.EvaluateAsync<JsonElement>("config => runCall(config)", config);
            CallResult result = element.Deserialize<CallResult>(Json)! with
            {
                ServerAllocations = server.Engine.Allocations.All.Select(ServerAllocation.Of).ToList(),
            };

            // Closing a peer connection makes Chromium send a Refresh with LIFETIME 0 for each allocation; nothing
            // announces that the server has handled it, so the table is polled until the deadline.
            await page.EvaluateAsync("closeCall()");
            DateTime deadline = DateTime.UtcNow.AddSeconds(10);
            while (server.Engine.Allocations.Count > 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            result = result with { AllocationsLeftAfterClose = server.Engine.Allocations.Count };
            string description = Describe(element.GetRawText(), fixture.Chromium.Log[logStart..]);
            output.WriteLine(description);
            return (result, description);
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    /// <summary>Text and binary messages, one of about 1,000 bytes each, and every byte value.</summary>
    private static List<WireMessage> Messages(string direction)
    {
        var messages = new List<WireMessage>();
        for (int i = 0; i < 10; i++)
        {
            messages.Add(new(direction + " #" + Text(i), null));
        }

        messages.Add(new(direction + " ünïcödé ✓ 🧊", null));
        messages.Add(new(string.Concat(Enumerable.Repeat(direction + " | ", 200))[..1000], null));
        messages.Add(new(null, Convert.ToHexStringLower(Enumerable.Range(0, 256).Select(b => (byte)b).ToArray())));
        byte[] large = new byte[1000];
        new Random(direction.Length + direction[0]).NextBytes(large);
        messages.Add(new(null, Convert.ToHexStringLower(large)));
        messages.Add(new(direction + " last", null));
        return messages;
    }

    private static object ToPage(WireMessage m) => new { text = m.Text, hex = m.Hex };

    private static string Describe(string pageResult, string chromiumLog)
    {
        IEnumerable<string> turnLines = chromiumLog.Split('\n').Where(l => l.Contains("turn_port", StringComparison.Ordinal));
        return "page result: " + pageResult + "\nChromium's TURN client log:\n" + string.Join('\n', turnLines.TakeLast(60));
    }

    /// <summary>A self-signed certificate for 127.0.0.1, written as PEM certificate and PEM PKCS#8 key files.</summary>
    private static (string Cert, string Key) WriteSelfSignedCertificate(string directory)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string cert = Path.Combine(directory, "turn_server_cert.pem");
        string key = Path.Combine(directory, "turn_server_pkey.pem");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        return (cert, key);
    }

    /// <summary>A port free on 127.0.0.1 for both TCP and UDP right now: listening-port serves UDP and TCP, tls-listening-port TLS and DTLS.</summary>
    private static int FreeTcpAndUdpPort()
    {
        while (true)
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)tcp.LocalEndPoint!).Port;
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // taken for UDP: try another
            }
        }
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    public sealed record WireMessage(string? Text, string? Hex);

    public sealed record CandidateError(string Pc, string? Url, int? ErrorCode, string? ErrorText, string? Address, int? Port);

    public sealed record Candidates(List<string> A, List<string> B);

    public sealed record SelectedPair(
        string LocalType, string LocalAddress, int LocalPort, string? RelayProtocol, string? Url, string RemoteType, string RemoteAddress, int RemotePort);

    public sealed record SelectedPairs(SelectedPair? A, SelectedPair? B);

    public sealed record ServerAllocation(int RelayPort, TransportProtocol Transport, long ClientPacketsSent, long PeerPacketsSent)
    {
        public static ServerAllocation Of(Allocation a) => new(a.RelayedTransportAddress.Port, a.FiveTuple.Protocol, a.ClientPacketsSent, a.PeerPacketsSent);
    }

    public sealed record CallResult(
        bool Connected,
        string? Error,
        Candidates Candidates,
        List<CandidateError> CandidateErrors,
        List<WireMessage>? ReceivedAtB,
        List<WireMessage>? ReceivedAtA,
        SelectedPairs? Selected,
        List<ServerAllocation>? ServerAllocations,
        int AllocationsLeftAfterClose);
}
