using System.Text.Json;
using Microsoft.Playwright;
using TurnServer.Core.Allocations;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>A data channel message: text (a DOMString message) or hex (an ArrayBuffer message).</summary>
internal sealed record WireMessage(string? Text, string? Hex);

/// <summary>What Chromium reported in an icecandidateerror event (or a failed addIceCandidate).</summary>
internal sealed record CandidateError(string Pc, string? Url, int? ErrorCode, string? ErrorText, string? Address, int? Port);

internal sealed record Candidates(List<string> A, List<string> B);

/// <summary>The candidate pair ICE selected, from getStats(); the local candidate carries the relay's transport and URL.</summary>
internal sealed record SelectedPair(
    string LocalType, string LocalAddress, int LocalPort, string? RelayProtocol, string? Url, string RemoteType, string RemoteAddress, int RemotePort);

internal sealed record SelectedPairs(SelectedPair? A, SelectedPair? B);

internal sealed record CallResult(
    bool Connected,
    string? Error,
    Candidates Candidates,
    List<CandidateError> CandidateErrors,
    List<WireMessage>? ReceivedAtB,
    List<WireMessage>? ReceivedAtA,
    SelectedPairs? Selected);

internal sealed record ExchangeResult(string? Error, List<WireMessage>? ReceivedAtB, List<WireMessage>? ReceivedAtA);

/// <summary>The server's view of one allocation at one moment.</summary>
internal sealed record ServerAllocation(Allocation Allocation, int RelayPort, TransportProtocol Transport, long ClientPacketsSent, long PeerPacketsSent)
{
    public static ServerAllocation Of(Allocation a) => new(a, a.RelayedTransportAddress.Port, a.FiveTuple.Protocol, a.ClientPacketsSent, a.PeerPacketsSent);
}

/// <summary>
/// One browser context of the headless Chromium with Browser/call.html loaded: two RTCPeerConnections in one page whose
/// only ICE server is the one given and whose iceTransportPolicy is 'relay'. The page is served at http://127.0.0.1
/// by Playwright's request routing, so no HTTP server is needed, and the origin is a secure context.
/// </summary>
internal sealed class BrowserCall : IAsyncDisposable
{
    private const string PageUrl = "http://127.0.0.1/call.html";
    private const int TimeoutMs = 30_000;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HeadlessChromium _chromium;
    private readonly IBrowserContext _context;
    private readonly IPage _page;
    private readonly object[] _iceServers;
    private readonly int _logStart;
    private string _lastPageResult = "(none yet)";

    private BrowserCall(HeadlessChromium chromium, IBrowserContext context, IPage page, object[] iceServers, int logStart)
    {
        _chromium = chromium;
        _context = context;
        _page = page;
        _iceServers = iceServers;
        _logStart = logStart;
    }

    /// <summary>The last result the page returned and what Chromium's TURN client logged since the page opened, for assertion messages.</summary>
    public string Context
    {
        get
        {
            IEnumerable<string> turnLines = _chromium.Log[_logStart..].Split('\n').Where(l => l.Contains("turn_port", StringComparison.Ordinal));
            return "page result: " + _lastPageResult + "\nChromium's TURN client log:\n" + string.Join('\n', turnLines.TakeLast(60));
        }
    }

    public static async Task<BrowserCall> OpenAsync(HeadlessChromium chromium, string url, string username, string credential)
    {
        int logStart = chromium.Log.Length;
        IBrowserContext context = await chromium.Browser.NewContextAsync();
        string html = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Browser", "call.html"));
        await context.RouteAsync(PageUrl, route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html; charset=utf-8", Body = html }));
        IPage page = await context.NewPageAsync();
        await page.GotoAsync(PageUrl);
        return new BrowserCall(chromium, context, page, [new { urls = url, username, credential }], logStart);
    }

    /// <summary>Connects the two peer connections through the server and exchanges the first messages over a data channel.</summary>
    public async Task<CallResult> ConnectAsync(IReadOnlyList<WireMessage> toB, IReadOnlyList<WireMessage> toA) =>
        await EvaluateAsync<CallResult>("config => runCall(config)", new { iceServers = _iceServers, toB = ToPage(toB), toA = ToPage(toA), timeoutMs = TimeoutMs });

    /// <summary>Exchanges more messages on the connected data channel.</summary>
    public async Task<ExchangeResult> ExchangeAsync(IReadOnlyList<WireMessage> toB, IReadOnlyList<WireMessage> toA) =>
        await EvaluateAsync<ExchangeResult>("config => exchangeAgain(config)", new { toB = ToPage(toB), toA = ToPage(toA), timeoutMs = TimeoutMs });

    /// <summary>Closes both peer connections; Chromium then releases their allocations (Refresh with LIFETIME 0).</summary>
    public async Task HangUpAsync() => await _page.EvaluateAsync("closeCall()");

    public async ValueTask DisposeAsync() => await _context.CloseAsync();

    private async Task<T> EvaluateAsync<T>(string expression, object argument)
    {
        JsonElement element = await _page.EvaluateAsync<JsonElement>(expression, argument);
        _lastPageResult = element.GetRawText();
        return element.Deserialize<T>(Json)!;
    }

    private static object[] ToPage(IReadOnlyList<WireMessage> messages) => messages.Select(m => (object)new { text = m.Text, hex = m.Hex }).ToArray();
}
