using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.UserDb;
using TurnServer.Hosting.WebAdmin;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// coTURN's web admin interface (web-admin) over HTTPS: administrators made by Debian's turnadmin -A in a SQLite
/// turndb log in; sessions are listed and cancelled; users and secrets added and deleted through the pages land in the
/// same database and take effect without a restart; realm administrators stay in their realm; forms without the
/// login's CSRF token, pages without a login, and a sixth login attempt in a minute are refused.
/// </summary>
public sealed partial class WebAdminTests : IDisposable
{
    private static readonly TimeSpan RefreshWait = TimeSpan.FromSeconds(30);

    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-webadmin-").FullName;
    private readonly TestCertificate _certificate = new();

    private string Turndb => Path.Combine(_directory, "turndb");

    public void Dispose()
    {
        _certificate.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_superuser_from_debians_turnadmin_cancels_a_session_and_manages_users_and_secrets()
    {
        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "boss", "-p", "boss-pw");
        await using TestServer server = await StartAsync();
        using HttpClient browser = Browser(server);

        string loginPage = await ExpectAsync(browser, HttpMethod.Get, "/", HttpStatusCode.OK);
        Assert.Contains("<form method=\"post\" action=\"/login\">", loginPage, StringComparison.Ordinal);
        Assert.Equal("/", (await SendAsync(browser, HttpMethod.Get, "/sessions")).Headers.Location?.OriginalString);
        Assert.Contains("Wrong name or password.", await ExpectAsync(browser, HttpMethod.Post, "/login", HttpStatusCode.Unauthorized, ("name", "boss"), ("password", "nope")), StringComparison.Ordinal);

        using (HttpResponseMessage login = await SendAsync(browser, HttpMethod.Post, "/login", ("name", "boss"), ("password", "boss-pw")))
        {
            Assert.Equal(HttpStatusCode.SeeOther, login.StatusCode);
            string cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"));
            Assert.Matches("^__Host-turnserver-admin=[A-Za-z0-9_-]{43}; path=/; secure; samesite=strict; httponly$", cookie);
        }

        // Login CSRF: a login form posted from another site is refused, whatever it carries: another origin, one its
        // page's policy hid ("null"), or a browser's word that it came from another site.
        foreach ((string header, string value) in new[] { ("Origin", "https://attacker.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Site", "same-site") })
        {
            using var crossSite = new HttpRequestMessage(HttpMethod.Post, "/login") { Content = new FormUrlEncodedContent([KeyValuePair.Create("name", "boss"), KeyValuePair.Create("password", "boss-pw")]) };
            crossSite.Headers.Add(header, value);
            using HttpResponseMessage refused = await browser.SendAsync(crossSite);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.False(refused.Headers.Contains("Set-Cookie"));
        }

        // A session, listed with its user and client address, then cancelled through the page.
        using var alice = new StunUdpClient(server.UdpEndPoint);
        await alice.AllocateAsync();
        Allocation allocation = Assert.Single(server.Engine.Allocations.All);
        string sessions = await ExpectAsync(browser, HttpMethod.Get, "/sessions", HttpStatusCode.OK);
        Assert.Contains("Total sessions: 1", sessions, StringComparison.Ordinal);
        Assert.Contains($"<td>{allocation.SessionId:D18}</td><td>alice</td><td>UDP</td><td>{TransportAddress.FromEndPoint(alice.LocalEndPoint)}</td>", sessions, StringComparison.Ordinal);
        string csrf = Csrf(sessions);
        string id = allocation.SessionId.ToString(CultureInfo.InvariantCulture);

        await ExpectAsync(browser, HttpMethod.Post, "/sessions/cancel", HttpStatusCode.Forbidden, ("id", id));
        await ExpectAsync(browser, HttpMethod.Post, "/sessions/cancel", HttpStatusCode.Forbidden, ("id", id), ("csrf", csrf[1..]));
        Assert.Single(server.Engine.Allocations.All);
        await ExpectAsync(browser, HttpMethod.Post, "/sessions/cancel", HttpStatusCode.SeeOther, ("id", id), ("csrf", csrf));
        Assert.Equal((allocation, AllocationEndReason.Cancelled), await server.Events.NextEndAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(437, StunTestClient.Code(await alice.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 600))));

        // A user added through the page is in the turndb for Debian's turnadmin, and allocates once the server has re-read it.
        Task refreshed = NextRefresh(server);
        await ExpectAsync(browser, HttpMethod.Post, "/users/add", HttpStatusCode.SeeOther, ("name", "erin"), ("password", "fresh"), ("realm", TestServer.Realm), ("csrf", csrf));
        Assert.Equal("erin[example.org]", (await DebianTurnadmin.RunAsync("-l", "-b", Turndb)).Trim());
        Assert.Same(refreshed, await Task.WhenAny(refreshed, Task.Delay(RefreshWait)));
        using (var erin = new StunUdpClient(server.UdpEndPoint, "erin", "fresh"))
        {
            await erin.AllocateAsync();
        }

        // Names are shown as text, never as markup.
        await ExpectAsync(browser, HttpMethod.Post, "/users/add", HttpStatusCode.SeeOther, ("name", "<script>alert(1)</script>"), ("password", "x"), ("csrf", csrf));
        string users = await ExpectAsync(browser, HttpMethod.Get, "/users", HttpStatusCode.OK);
        Assert.Contains("<td>erin</td><td>example.org</td>", users, StringComparison.Ordinal);
        Assert.Contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>", users, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", users, StringComparison.Ordinal);
        await ExpectAsync(browser, HttpMethod.Post, "/users/delete", HttpStatusCode.SeeOther, ("name", "<script>alert(1)</script>"), ("realm", TestServer.Realm), ("csrf", csrf));
        await ExpectAsync(browser, HttpMethod.Post, "/users/delete", HttpStatusCode.SeeOther, ("name", "erin"), ("realm", TestServer.Realm), ("csrf", csrf));
        await ExpectAsync(browser, HttpMethod.Post, "/users/delete", HttpStatusCode.BadRequest, ("name", "erin"), ("realm", TestServer.Realm), ("csrf", csrf));
        Assert.Equal(string.Empty, (await DebianTurnadmin.RunAsync("-l", "-b", Turndb)).Trim());

        await ExpectAsync(browser, HttpMethod.Post, "/secrets/add", HttpStatusCode.SeeOther, ("value", "rest-secret"), ("realm", "other.org"), ("csrf", csrf));
        Assert.Contains("<td>rest-secret</td><td>other.org</td>", await ExpectAsync(browser, HttpMethod.Get, "/secrets", HttpStatusCode.OK), StringComparison.Ordinal);
        Assert.Contains("rest-secret", await DebianTurnadmin.RunAsync("-S", "-b", Turndb, "-r", "other.org"), StringComparison.Ordinal);
        await ExpectAsync(browser, HttpMethod.Post, "/secrets/delete", HttpStatusCode.SeeOther, ("value", "rest-secret"), ("realm", "other.org"), ("csrf", csrf));
        Assert.DoesNotContain("rest-secret", await DebianTurnadmin.RunAsync("-S", "-b", Turndb), StringComparison.Ordinal);

        await ExpectAsync(browser, HttpMethod.Post, "/logout", HttpStatusCode.SeeOther, ("csrf", csrf));
        Assert.Equal(HttpStatusCode.Found, (await SendAsync(browser, HttpMethod.Get, "/users")).StatusCode);
    }

    /// <summary>
    /// A real browser logs in through the form, and its login posts pass the check against login CSRF. Regression: the
    /// pages' Referrer-Policy no-referrer made Chromium send "Origin: null" with the form, which that check refused.
    /// </summary>
    [Fact]
    public async Task Chromium_logs_in_through_the_form_and_sees_the_status_page()
    {
        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "boss", "-p", "boss-pw");
        await using TestServer server = await StartAsync();
        await using HeadlessChromium chromium = await HeadlessChromium.StartAsync();
        await using Microsoft.Playwright.IBrowserContext context = await chromium.Browser.NewContextAsync(new() { IgnoreHTTPSErrors = true });
        Microsoft.Playwright.IPage page = await context.NewPageAsync();
        int port = server.Host.Services.GetRequiredService<WebAdminServer>().Port;

        await page.GotoAsync("https://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture) + "/");
        await page.FillAsync("input[name=name]", "boss");
        await page.FillAsync("input[name=password]", "boss-pw");
        Microsoft.Playwright.IResponse login = await page.RunAndWaitForResponseAsync(
            () => page.ClickAsync("form[action='/login'] [type=submit]"),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/login", StringComparison.Ordinal));

        // The page the redirect leads to, by what it shows: a load-state wait could attach to the login page's
        // document while the navigation was under way, and once timed out so on a loaded CI machine.
        await page.WaitForSelectorAsync("h1:text-is('Status')", new() { Timeout = 30_000 });

        string html = await page.ContentAsync();
        Assert.True(login.Status == 303, $"{login.Status}: {html}");
        Assert.Contains("<h1>Status</h1>", html, StringComparison.Ordinal);
        Assert.Contains("Log out", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_realm_administrator_manages_only_its_realm_and_is_logged_out_when_deleted()
    {
        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "north", "-r", "north.gov", "-p", "north-pw");
        await using TestServer server = await StartAsync();
        using HttpClient browser = Browser(server);
        await ExpectAsync(browser, HttpMethod.Post, "/login", HttpStatusCode.SeeOther, ("name", "north"), ("password", "north-pw"));
        using var alice = new StunUdpClient(server.UdpEndPoint);
        await alice.AllocateAsync();

        // The server's realm is example.org: its sessions are not north's to see or cancel.
        string sessions = await ExpectAsync(browser, HttpMethod.Get, "/sessions", HttpStatusCode.OK);
        Assert.Contains("Total sessions: 0", sessions, StringComparison.Ordinal);
        string csrf = Csrf(sessions);
        string id = Assert.Single(server.Engine.Allocations.All).SessionId.ToString(CultureInfo.InvariantCulture);
        await ExpectAsync(browser, HttpMethod.Post, "/sessions/cancel", HttpStatusCode.NotFound, ("id", id), ("csrf", csrf));
        Assert.Single(server.Engine.Allocations.All);

        await ExpectAsync(browser, HttpMethod.Post, "/users/add", HttpStatusCode.BadRequest, ("name", "erin"), ("password", "x"), ("realm", TestServer.Realm), ("csrf", csrf));
        await ExpectAsync(browser, HttpMethod.Post, "/users/add", HttpStatusCode.SeeOther, ("name", "erin"), ("password", "x"), ("csrf", csrf));
        Assert.Equal("erin[north.gov]", (await DebianTurnadmin.RunAsync("-l", "-b", Turndb)).Trim());
        await ExpectAsync(browser, HttpMethod.Post, "/secrets/add", HttpStatusCode.BadRequest, ("value", "s"), ("realm", TestServer.Realm), ("csrf", csrf));

        Assert.Equal(0, (await Turnadmin.RunAsync("-D", "-b", Turndb, "-u", "north")).ExitCode);
        Assert.Equal(HttpStatusCode.Found, (await SendAsync(browser, HttpMethod.Get, "/users")).StatusCode);
        await ExpectAsync(browser, HttpMethod.Post, "/users/add", HttpStatusCode.Forbidden, ("name", "zed"), ("password", "x"), ("csrf", csrf));
    }

    /// <summary>The sessions page lists at most cli-max-output-sessions rows, as the CLI's ps, and says how many there are.</summary>
    [Fact]
    public async Task The_sessions_page_lists_at_most_cli_max_output_sessions()
    {
        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "boss", "-p", "boss-pw");
        await using TestServer server = await TestServer.StartAsync(["--userdb=" + Turndb, "--web-admin", "--web-admin-ip=127.0.0.1", "--web-admin-port=0", "--cli-max-output-sessions=1", .. _certificate.Options]);
        using HttpClient browser = Browser(server);
        await ExpectAsync(browser, HttpMethod.Post, "/login", HttpStatusCode.SeeOther, ("name", "boss"), ("password", "boss-pw"));
        using var first = new StunUdpClient(server.UdpEndPoint);
        using var second = new StunUdpClient(server.UdpEndPoint);
        await first.AllocateAsync();
        await second.AllocateAsync();

        string sessions = await ExpectAsync(browser, HttpMethod.Get, "/sessions", HttpStatusCode.OK);
        Assert.Contains("Total sessions: 2", sessions, StringComparison.Ordinal);
        Assert.Contains("Showing the first 1", sessions, StringComparison.Ordinal);
        long[] ids = [.. server.Engine.Allocations.All.Select(a => a.SessionId).Order()];
        Assert.Contains($"<td>{ids[0]:D18}</td>", sessions, StringComparison.Ordinal);
        Assert.DoesNotContain($"<td>{ids[1]:D18}</td>", sessions, StringComparison.Ordinal);
    }

    /// <summary>A changed password (turnadmin -A again) ends the logins made with the old one, so a stolen cookie dies with it.</summary>
    [Fact]
    public async Task A_changed_password_ends_the_logins_made_with_the_old_one()
    {
        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "boss", "-p", "boss-pw");
        await using TestServer server = await StartAsync();
        using HttpClient browser = Browser(server);
        await ExpectAsync(browser, HttpMethod.Post, "/login", HttpStatusCode.SeeOther, ("name", "boss"), ("password", "boss-pw"));
        await ExpectAsync(browser, HttpMethod.Get, "/users", HttpStatusCode.OK);

        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "boss", "-p", "new-boss-pw");
        Assert.Equal(HttpStatusCode.Found, (await SendAsync(browser, HttpMethod.Get, "/users")).StatusCode); // back to the login page
        await ExpectAsync(browser, HttpMethod.Post, "/login", HttpStatusCode.SeeOther, ("name", "boss"), ("password", "new-boss-pw"));
        await ExpectAsync(browser, HttpMethod.Get, "/users", HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_sixth_login_attempt_in_a_minute_is_refused_even_with_the_right_password()
    {
        await DebianTurnadmin.RunAsync("-A", "-b", Turndb, "-u", "boss", "-p", "boss-pw");
        await using TestServer server = await StartAsync();
        using HttpClient browser = Browser(server);
        for (int i = 0; i < WebAdminServer.LoginAttemptsPerMinute; i++)
        {
            await ExpectAsync(browser, HttpMethod.Post, "/login", HttpStatusCode.Unauthorized, ("name", "boss"), ("password", "guess" + i));
        }

        using HttpResponseMessage refused = await SendAsync(browser, HttpMethod.Post, "/login", ("name", "boss"), ("password", "boss-pw"));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("60", refused.Headers.GetValues("Retry-After").Single());
        Assert.False(refused.Headers.Contains("Set-Cookie"));
    }

    private Task<TestServer> StartAsync() =>
        TestServer.StartAsync(["--userdb=" + Turndb, "--web-admin", "--web-admin-ip=127.0.0.1", "--web-admin-port=0", .. _certificate.Options]);

    private static Task NextRefresh(TestServer server) => server.Host.Services.GetRequiredService<UserDatabaseRefresher>().NextRefreshAsync();

    // A client that keeps the login cookie, follows no redirect, and trusts exactly the test certificate.
    private HttpClient Browser(TestServer server)
    {
        string thumbprint = _certificate.Certificate.Thumbprint;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            CookieContainer = new CookieContainer(),
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == thumbprint },
        };
        int port = server.Host.Services.GetRequiredService<WebAdminServer>().Port;
        return new HttpClient(handler) { BaseAddress = new Uri("https://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture)), Timeout = TimeSpan.FromSeconds(30) };
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient browser, HttpMethod method, string path, params (string Name, string Value)[] form)
    {
        var request = new HttpRequestMessage(method, path);
        if (method == HttpMethod.Post)
        {
            request.Content = new FormUrlEncodedContent(form.Select(f => KeyValuePair.Create(f.Name, f.Value)));
        }

        return browser.SendAsync(request);
    }

    private static async Task<string> ExpectAsync(HttpClient browser, HttpMethod method, string path, HttpStatusCode status, params (string Name, string Value)[] form)
    {
        using HttpResponseMessage response = await SendAsync(browser, method, path, form);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{method} {path}: {(int)response.StatusCode}, expected {(int)status}\n{body}");
        return body;
    }

    private static string Csrf(string page) => CsrfPattern().Match(page).Groups[1].Value is { Length: > 0 } token ? token : throw new Xunit.Sdk.XunitException("no CSRF token in\n" + page);

    [GeneratedRegex("name=\"csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfPattern();
}
