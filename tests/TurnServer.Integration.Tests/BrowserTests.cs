using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Integration.Tests.Infrastructure;

namespace TurnServer.Integration.Tests;

/// <summary>One headless Chromium for all browser tests; each test gets its own browser context.</summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    private HeadlessChromium? _chromium;

    internal HeadlessChromium Chromium => _chromium ?? throw new InvalidOperationException("Chromium did not start");

    public async Task InitializeAsync() => _chromium = await HeadlessChromium.StartAsync();

    public async Task DisposeAsync()
    {
        if (_chromium is not null)
        {
            await _chromium.DisposeAsync();
        }
    }
}

/// <summary>
/// The browser end to end: one page, two RTCPeerConnections whose only ICE servers are this server and whose
/// iceTransportPolicy is 'relay', so the data channel between them can only run relay to relay through it.
/// </summary>
public sealed class BrowserTests(ChromiumFixture fixture, ITestOutputHelper output) : IClassFixture<ChromiumFixture>
{
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
        await using TestServer server = await TestServer.StartAsync();
        string url = "turn:127.0.0.1:" + Text(server.TcpEndPoints[0].Port) + "?transport=tcp";

        await CallAndCheckAsync(server, url, TestServer.User, TestServer.Password, "tcp", TransportProtocol.Tcp);
    }

    [Fact]
    public async Task Chromium_relays_a_data_channel_over_turns_tls_with_a_self_signed_certificate()
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        string url = "turns:127.0.0.1:" + Text(server.TlsEndPoints[0].Port) + "?transport=tcp";

        await CallAndCheckAsync(server, url, TestServer.User, TestServer.Password, "tls", TransportProtocol.Tls);
    }

    [Fact]
    public async Task Chromium_keeps_its_allocations_past_their_lifetime_by_refreshing_them()
    {
        // Granted under 2 minutes, Chromium refreshes at half the lifetime: with 4 s, every 2 s. A Refresh success
        // without LIFETIME would stop its refreshing, and the sweeper would free the allocations after 4 s.
        const int lifetimeSeconds = 4;
        await using TestServer server = await TestServer.StartAsync("--max-allocate-lifetime=" + Text(lifetimeSeconds));
        string url = "turn:127.0.0.1:" + Text(server.Port) + "?transport=udp";
        await using BrowserCall call = await BrowserCall.OpenAsync(fixture.Chromium, url, TestServer.User, TestServer.Password);
        CallResult result = await call.ConnectAsync(Messages("a to b"), Messages("b to a"));
        Assert.True(result.Connected && result.Error is null, call.Context);
        AssertRelayToRelay(result, url, "udp", call.Context);
        List<Allocation> allocations = server.Engine.Allocations.All.ToList();
        Assert.NotEmpty(allocations);

        // The allocations' own lifetime passing, twice over, is what is tested: each must have been refreshed since.
        long twoLifetimesOn = Stopwatch.GetTimestamp() + (2 * lifetimeSeconds * Stopwatch.Frequency);
        try
        {
            await server.Events.RefreshedAfterAsync(allocations, twoLifetimesOn, TimeSpan.FromSeconds(4 * lifetimeSeconds));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("Chromium did not keep refreshing every allocation\n" + call.Context);
        }

        List<WireMessage> toB = Messages("a to b, later");
        List<WireMessage> toA = Messages("b to a, later");
        ExchangeResult later = await call.ExchangeAsync(toB, toA);
        output.WriteLine(call.Context);
        Assert.True(later.Error is null, call.Context);
        Assert.Equal(toB, later.ReceivedAtB);
        Assert.Equal(toA, later.ReceivedAtA);
        Assert.All(allocations, a => Assert.False(a.IsReleased, $"{a.FiveTuple} expired although Chromium refreshes it\n{call.Context}"));
    }

    [Fact]
    public async Task Chromium_with_a_wrong_password_gets_no_relay_candidate_and_does_not_connect()
    {
        await using TestServer server = await TestServer.StartAsync();
        string url = "turn:127.0.0.1:" + Text(server.Port) + "?transport=udp";

        await using BrowserCall call = await BrowserCall.OpenAsync(fixture.Chromium, url, TestServer.User, "not-the-password");

        CallResult result = await call.ConnectAsync([new("never sent", null)], []);
        output.WriteLine(call.Context);

        Assert.False(result.Connected, call.Context);
        Assert.Empty(result.Candidates.A);
        Assert.Empty(result.Candidates.B);
        // Chromium reports the server's final 401 (after answering the first challenge) as a candidate error.
        Assert.Contains(result.CandidateErrors, e => e.ErrorCode == 401 && e.Url == url);
        Assert.True(server.Engine.Counters.GetAuthFailures(AuthFailureReason.BadIntegrity) >= 1, call.Context);
        Assert.Equal(0, server.Engine.Allocations.Count);
        Assert.Equal(0, server.Engine.GetTrafficTotals().PeerPacketsSent);
    }

    private async Task CallAndCheckAsync(TestServer server, string url, string username, string credential, string relayProtocol, TransportProtocol transport)
    {
        List<WireMessage> toB = Messages("a to b");
        List<WireMessage> toA = Messages("b to a");
        await using BrowserCall call = await BrowserCall.OpenAsync(fixture.Chromium, url, username, credential);

        CallResult result = await call.ConnectAsync(toB, toA);
        List<ServerAllocation> allocations = server.Engine.Allocations.All.Select(ServerAllocation.Of).ToList();
        output.WriteLine(call.Context);

        Assert.True(result.Connected && result.Error is null, call.Context);
        Assert.Equal(toB, result.ReceivedAtB);
        Assert.Equal(toA, result.ReceivedAtA);
        AssertRelayToRelay(result, url, relayProtocol, call.Context);

        // Each end's relay candidate is an allocation on this server, over the variant's transport, that carried data both ways.
        foreach (int relayPort in new[] { result.Selected!.A!.LocalPort, result.Selected.B!.LocalPort })
        {
            ServerAllocation? allocation = allocations.Find(a => a.RelayPort == relayPort);
            Assert.True(allocation is not null, $"no allocation on the server relays from port {relayPort}\n{call.Context}");
            Assert.Equal(transport, allocation.Transport);
            Assert.True(allocation.PeerPacketsSent > 0 && allocation.ClientPacketsSent > 0, $"relay port {relayPort} carried no data both ways\n{call.Context}");
        }

        // Closing a peer connection makes Chromium release its allocation: a Refresh with LIFETIME 0, and over TCP or TLS
        // also closing the connection, whichever the server sees first.
        await call.HangUpAsync();
        AllocationEndReason[] releases = transport == TransportProtocol.Udp
            ? [AllocationEndReason.Deleted]
            : [AllocationEndReason.Deleted, AllocationEndReason.ConnectionClosed];
        for (int i = 0; i < 2; i++)
        {
            (Allocation ended, AllocationEndReason reason) = await server.Events.NextEndAsync(TimeSpan.FromSeconds(10));
            Assert.True(allocations.Exists(a => a.Allocation == ended) && releases.Contains(reason), $"{ended.FiveTuple} ended: {reason}\n{call.Context}");
        }

        Assert.Equal(0, server.Engine.Allocations.Count);
    }

    /// <summary>getStats() on both ends: the selected pair is relay to relay, each end's relay from this server's URL over the expected transport.</summary>
    private static void AssertRelayToRelay(CallResult result, string url, string relayProtocol, string context)
    {
        Assert.True(result.Selected is { A: not null, B: not null }, "no selected candidate pair\n" + context);
        foreach (SelectedPair pair in new[] { result.Selected.A, result.Selected.B })
        {
            Assert.Equal("relay", pair.LocalType);
            Assert.Equal("relay", pair.RemoteType);
            Assert.Equal(relayProtocol, pair.RelayProtocol);
            Assert.Equal(url, pair.Url);
            Assert.Equal("127.0.0.1", pair.LocalAddress);
        }

        Assert.Equal(result.Selected.A.LocalPort, result.Selected.B.RemotePort);
        Assert.Equal(result.Selected.B.LocalPort, result.Selected.A.RemotePort);
    }

    /// <summary>Short texts in order, non-ASCII text, 1,000 characters of text, every byte value, 1,000 random bytes.</summary>
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
        messages.Add(new(null, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(1000))));
        messages.Add(new(direction + " last", null));
        return messages;
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);
}
