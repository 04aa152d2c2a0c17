using Microsoft.Playwright;

namespace TurnServer.Integration.Tests.Infrastructure;

/// <summary>
/// Debian's Chromium (<c>apt-get install chromium</c>), headless, started by the test as a child process and driven by
/// Playwright over the DevTools protocol. Starting it here rather than through Playwright's launcher keeps its PID
/// ours (it is closed and, if need be, killed by PID) and its stderr, where WebRTC's TURN client logs, readable by
/// the tests. Playwright never downloads a browser: nothing calls its installer.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    public const string ExecutablePath = "/usr/bin/chromium";

    private const string DevToolsBanner = "DevTools listening on ";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly ExternalProcess _process;
    private readonly DirectoryInfo _profile;
    private readonly IPlaywright _playwright;

    private HeadlessChromium(ExternalProcess process, DirectoryInfo profile, IPlaywright playwright, IBrowser browser)
    {
        _process = process;
        _profile = profile;
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    /// <summary>Everything Chromium wrote to stdout and stderr so far.</summary>
    public string Log => _process.Output;

    private static IReadOnlyList<string> Flags(string profileDirectory) =>
    [
        "--headless",
        // Containers and CI machines have no user namespaces for the sandbox, and no GPU.
        "--no-sandbox",
        "--disable-gpu",
        // Only the test's own traffic: no QUIC probing, no first-run, update, sync or other background requests.
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--user-data-dir=" + profileDirectory,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        // The turns: variant's certificate is self-signed; certificate checking is not what these tests are about.
        "--ignore-certificate-errors",
        // WebRTC's TURN client logs why an allocation failed: attached to a failing test's message.
        "--enable-logging=stderr",
        "--vmodule=turn_port=1",
        "about:blank",
    ];

    public static async Task<HeadlessChromium> StartAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            throw new FileNotFoundException($"{ExecutablePath} is not installed; .ci/run installs Debian's chromium package for it.");
        }

        DirectoryInfo profile = Directory.CreateTempSubdirectory("turnserver-chromium-");
        var endpoint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        ExternalProcess process = ExternalProcess.Start(ExecutablePath, Flags(profile.FullName));
        process.LineReceived += line => OfferBanner(line, endpoint);
        foreach (string line in process.Output.Split('\n'))
        {
            OfferBanner(line.TrimEnd('\r'), endpoint); // the banner may have come before the handler
        }

        IPlaywright? playwright = null;
        try
        {
            Task finished = await Task.WhenAny(endpoint.Task, Task.Delay(StartTimeout));
            if (finished != endpoint.Task)
            {
                throw new TimeoutException($"Chromium printed no DevTools endpoint within {StartTimeout.TotalSeconds} s:\n{process.Output}");
            }

            playwright = await Playwright.CreateAsync();
            IBrowser browser = await playwright.Chromium.ConnectOverCDPAsync(
                await endpoint.Task,
                new BrowserTypeConnectOverCDPOptions { Timeout = (float)StartTimeout.TotalMilliseconds });
            return new HeadlessChromium(process, profile, playwright, browser);
        }
        catch
        {
            playwright?.Dispose();
            process.Dispose();
            profile.Delete(recursive: true);
            throw;
        }
    }

    /// <summary>Asks Chromium to quit, waits for its process to end (killing it by PID if it does not), and removes its profile.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            ICDPSession session = await Browser.NewBrowserCDPSessionAsync();
            await session.SendAsync("Browser.close");
        }
        catch (PlaywrightException)
        {
            // The connection can drop before Browser.close is answered; the exit below is what counts.
        }

        try
        {
            await _process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
            // Dispose kills it by PID.
        }

        _process.Dispose();
        _playwright.Dispose();
        _profile.Delete(recursive: true);
    }

    private static void OfferBanner(string line, TaskCompletionSource<string> endpoint)
    {
        if (line.StartsWith(DevToolsBanner, StringComparison.Ordinal))
        {
            endpoint.TrySetResult(line[DevToolsBanner.Length..].Trim());
        }
    }
}
