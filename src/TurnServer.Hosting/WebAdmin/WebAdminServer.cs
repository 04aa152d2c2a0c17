using System.Data.Common;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Metrics;
using TurnServer.Hosting.Services;
using TurnServer.Hosting.Tls;
using TurnServer.Stun;
using TurnServer.UserDb;

namespace TurnServer.Hosting.WebAdmin;

/// <summary>
/// coTURN's web admin interface (<c>web-admin</c>, on <c>web-admin-ip</c>:<c>web-admin-port</c>, 127.0.0.1:8080), over
/// HTTPS with the server's <c>cert</c> and <c>pkey</c> (reloaded with them on SIGHUP/SIGUSR2). Administrators are the
/// user database's <c>admin_user</c> rows (<c>turnadmin -A</c>): a superuser (no realm) manages every realm, a realm's
/// administrator only its own. Pages: status (<c>/</c>), sessions with cancel (<c>/sessions</c>), long-term users
/// (<c>/users</c>: list, add, delete) and REST API secrets (<c>/secrets</c>: list, add, delete).
/// </summary>
/// <remarks>
/// Safer than coTURN's by default: the login is a cookie (<c>HttpOnly</c>, <c>Secure</c>, <c>SameSite=Strict</c>,
/// <c>__Host-</c>) that ends after 30 minutes unused or 12 hours in all; every form that changes something carries the
/// login's CSRF token, and a login posted from another site's page is refused; five login attempts
/// per minute per client address, then 429; the administrator is looked up again on each request, so deleting it with
/// <c>turnadmin -D</c> ends its logins; pages may not be framed, cached or run scripts (Content-Security-Policy).
/// User database failures answer 503 and are logged; they never stop the server.
/// </remarks>
internal sealed partial class WebAdminServer : KestrelService
{
    /// <summary>
    /// The login cookie's name. The <c>__Host-</c> prefix makes browsers take it only when set over HTTPS by this host,
    /// for path /, without a domain: a plain-HTTP service on another port of the host cannot plant one.
    /// </summary>
    public const string CookieName = "__Host-turnserver-admin";

    /// <summary>The form field that carries the CSRF token.</summary>
    public const string CsrfField = "csrf";

    /// <summary>Login attempts a client address may make per minute.</summary>
    public const int LoginAttemptsPerMinute = 5;

    // Compared against when the name is unknown, so an unknown name takes as long to refuse as a wrong password.
    private static readonly string UnknownAdminPassword = AdminPassword.Encrypt(Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));

    private readonly IPAddress _address;
    private readonly int _port;
    private readonly TlsCertificateProvider _certificate;
    private readonly TurnUserDatabase _database;
    private readonly TurnEngine _engine;
    private readonly TurnServerSettings _settings;
    private readonly WebAdminLogins _logins;
    private readonly PartitionedRateLimiter<IPAddress> _loginAttempts;
    private readonly ILogger _logger;

    /// <summary>
    /// Serves on <paramref name="address"/>:<paramref name="port"/> (0: any free port) with <paramref name="certificate"/>;
    /// administrators, users and secrets come from <paramref name="database"/>, sessions from <paramref name="engine"/>.
    /// </summary>
    public WebAdminServer(
        IPAddress address,
        int port,
        TlsCertificateProvider certificate,
        TurnUserDatabase database,
        TurnEngine engine,
        TurnServerSettings settings,
        TimeProvider time,
        ILoggerFactory loggerFactory)
        : base(loggerFactory)
    {
        _address = address;
        _port = port;
        _certificate = certificate;
        _database = database;
        _engine = engine;
        _settings = settings;
        _logins = new WebAdminLogins(time);
        _loginAttempts = Net.AddressShares.PerMinute(LoginAttemptsPerMinute);
        _logger = loggerFactory.CreateLogger("TurnServer.WebAdmin");
    }

    /// <inheritdoc />
    public override int ConnectionLimit => 16;

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        await _loginAttempts.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override void Listen(KestrelServerOptions kestrel)
    {
        kestrel.Limits.MaxRequestBodySize = 16 * 1024;
        kestrel.Listen(_address, _port, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = _ => ValueTask.FromResult(ServerOptions()),
                HandshakeTimeout = TimeSpan.FromSeconds(10),
            });
        });
    }

    /// <inheritdoc />
    protected override void Configure(WebApplication app) => app.Run(HandleAsync);

    /// <inheritdoc />
    protected override void OnStarted() => LogListening(_logger, BoundAddress);

    // The TURN listeners' certificate, without their client-certificate check (CA-file is for TURN clients, not browsers).
    private SslServerAuthenticationOptions ServerOptions()
    {
        SslServerAuthenticationOptions options = _certificate.CreateServerOptions();
        options.ClientCertificateRequired = false;
        options.RemoteCertificateValidationCallback = null;
        return options;
    }

    private async Task HandleAsync(HttpContext context)
    {
        HttpResponse response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
        response.Headers.XContentTypeOptions = "nosniff";
        // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with the pages' own forms, and
        // the login's check of Origin could not tell them from another site's.
        response.Headers["Referrer-Policy"] = "same-origin";
        try
        {
            await RouteAsync(context).ConfigureAwait(false);
        }
        catch (Exception e) when ((e is IOException or OperationCanceledException) && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-request (reading its form, say): nothing failed here, and nobody to answer.
        }
        catch (Exception e) when (e is DbException or IOException)
        {
            LogDatabaseFailed(_logger, _database.Description, e.Message);
            await WriteAsync(response, StatusCodes.Status503ServiceUnavailable, new WebAdminPage("User database unavailable", null).Paragraph("The user database cannot be reached; see the server's log.")).ConfigureAwait(false);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            await WriteAsync(response, StatusCodes.Status400BadRequest, new WebAdminPage("Bad request", null)).ConfigureAwait(false);
        }
    }

    private async Task RouteAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        string path = request.Path.Value ?? "/";
        bool get = HttpMethods.IsGet(request.Method);
        bool post = HttpMethods.IsPost(request.Method);
        if (!get && !post)
        {
            await WriteAsync(context.Response, StatusCodes.Status405MethodNotAllowed, new WebAdminPage("Method not allowed", null)).ConfigureAwait(false);
            return;
        }

        if (post && path == "/login")
        {
            await LoginAsync(context).ConfigureAwait(false);
            return;
        }

        string? cookie = request.Cookies[CookieName];
        WebAdminLogin? login = await CurrentLoginAsync(cookie).ConfigureAwait(false);
        if (login is null)
        {
            if (get && path == "/")
            {
                await WriteAsync(context.Response, StatusCodes.Status200OK, LoginPage(null)).ConfigureAwait(false);
            }
            else if (get)
            {
                context.Response.Redirect("/");
            }
            else
            {
                await WriteAsync(context.Response, StatusCodes.Status403Forbidden, new WebAdminPage("Not logged in", null)).ConfigureAwait(false);
            }

            return;
        }

        IFormCollection? form = null;
        if (post)
        {
            form = request.HasFormContentType ? await request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false) : null;
            if (form is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(form[CsrfField].ToString()), Encoding.UTF8.GetBytes(login.CsrfToken)))
            {
                await WriteAsync(context.Response, StatusCodes.Status403Forbidden, new WebAdminPage("Forbidden", login).Paragraph("The form did not come from this login.")).ConfigureAwait(false);
                return;
            }
        }

        Task handled = (get, path) switch
        {
            (true, "/") => WriteAsync(context.Response, StatusCodes.Status200OK, StatusPage(login)),
            (true, "/sessions") => WriteAsync(context.Response, StatusCodes.Status200OK, SessionsPage(login)),
            (true, "/users") => UsersPageAsync(context.Response, login),
            (true, "/secrets") => SecretsPageAsync(context.Response, login),
            (false, "/logout") => LogoutAsync(context, cookie),
            (false, "/sessions/cancel") => CancelSessionAsync(context, login, form!),
            (false, "/users/add") => AddUserAsync(context, login, form!),
            (false, "/users/delete") => DeleteUserAsync(context, login, form!),
            (false, "/secrets/add") => AddSecretAsync(context, login, form!),
            (false, "/secrets/delete") => DeleteSecretAsync(context, login, form!),
            _ => WriteAsync(context.Response, StatusCodes.Status404NotFound, new WebAdminPage("Not found", login)),
        };
        await handled.ConfigureAwait(false);
    }

    // The cookie's login, if it is live and its administrator is still in the database with the same realm and password.
    private async Task<WebAdminLogin?> CurrentLoginAsync(string? cookie)
    {
        if (!_logins.TryGet(cookie, out WebAdminLogin? login))
        {
            return null;
        }

        UserDatabaseAdmin? admin = await _database.FindAdminUserAsync(login.Name).ConfigureAwait(false);
        if (admin is null || !string.Equals(admin.Realm, login.Realm, StringComparison.Ordinal) || !login.HasPassword(admin.Password))
        {
            _logins.End(cookie);
            return null;
        }

        return login;
    }

    private async Task LoginAsync(HttpContext context)
    {
        // Login CSRF: another site's form could log the browser in as the attacker's administrator. Browsers send
        // Origin with every POST, naming the page's site, or "null" when that page's policy hides it; and
        // Sec-Fetch-Site, "same-origin" only for this site's own pages. Clients that send neither (scripts) pass.
        string? site = context.Request.Headers["Sec-Fetch-Site"];
        if ((context.Request.Headers.Origin is { Count: > 0 } origin && origin.ToString() != "https://" + context.Request.Host.Value)
            || (site is not null && site != "same-origin"))
        {
            await WriteAsync(context.Response, StatusCodes.Status403Forbidden, LoginPage("This form was sent from another site.")).ConfigureAwait(false);
            return;
        }

        IPAddress client = context.Connection.RemoteIpAddress ?? IPAddress.None;
        using RateLimitLease lease = _loginAttempts.AttemptAcquire(client);
        if (!lease.IsAcquired)
        {
            LogLoginThrottled(_logger, client.ToString());
            context.Response.Headers.RetryAfter = "60";
            await WriteAsync(context.Response, StatusCodes.Status429TooManyRequests, LoginPage("Too many login attempts: wait a minute.")).ConfigureAwait(false);
            return;
        }

        IFormCollection? form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false) : null;
        string name = form?["name"].ToString() ?? string.Empty;
        string password = form?["password"].ToString() ?? string.Empty;
        UserDatabaseAdmin? admin = name.Length == 0 ? null : await _database.FindAdminUserAsync(name).ConfigureAwait(false);
        bool matches = AdminPassword.Matches(password, admin?.Password ?? UnknownAdminPassword);
        if (admin is null || !matches)
        {
            LogLoginFailed(_logger, name, client.ToString());
            await WriteAsync(context.Response, StatusCodes.Status401Unauthorized, LoginPage("Wrong name or password.")).ConfigureAwait(false);
            return;
        }

        string id = _logins.Start(admin);
        context.Response.Cookies.Append(CookieName, id, new CookieOptions
        {
            HttpOnly = true,
            Secure = true,
            SameSite = SameSiteMode.Strict,
            Path = "/",
        });
        LogLogin(_logger, admin.Name, client.ToString());
        SeeOther(context.Response, "/");
    }

    private Task LogoutAsync(HttpContext context, string? cookie)
    {
        _logins.End(cookie);
        context.Response.Cookies.Delete(CookieName, new CookieOptions { Secure = true, Path = "/" });
        SeeOther(context.Response, "/");
        return Task.CompletedTask;
    }

    private static WebAdminPage LoginPage(string? problem)
    {
        var page = new WebAdminPage("Log in", null);
        if (problem is not null)
        {
            page.Paragraph(problem);
        }

        return page.InputForm("/login", "Log in", ("name", "Name", "text", string.Empty), ("password", "Password", "password", string.Empty));
    }

    private WebAdminPage StatusPage(WebAdminLogin login)
    {
        var page = new WebAdminPage("Status", login);
        TrafficTotals traffic = _engine.GetTrafficTotals();
        page.Raw("<table>\n");
        page.Row(false, false, "Software", "TurnServer " + typeof(WebAdminServer).Assembly.GetName().Version?.ToString(3));
        page.Row(false, false, "Realm", _settings.Realm);
        page.Row(false, false, "Allocations", _engine.Allocations.Count.ToString(CultureInfo.InvariantCulture));
        page.Row(false, false, "Draining", _engine.IsDraining ? "yes" : "no");
        page.Row(false, false, "listening-port, tls-listening-port", $"{_settings.ListeningPort}, {_settings.TlsListeningPort}");
        page.Row(false, false, "Relay ports", $"{_settings.MinPort}-{_settings.MaxPort}");
        page.Row(false, false, "User database", _database.Description);
        page.Row(false, false, "Relayed since start", string.Create(CultureInfo.InvariantCulture, $"{traffic.Packets} packets"));
        return page.Raw("</table>\n");
    }

    private WebAdminPage SessionsPage(WebAdminLogin login)
    {
        var page = new WebAdminPage("Sessions", login);
        List<Allocation> sessions = login.May(_settings.Realm) ? [.. _engine.Allocations.All.OrderBy(a => a.SessionId)] : [];
        page.Paragraph(string.Create(CultureInfo.InvariantCulture, $"Total sessions: {sessions.Count}"));

        // One page for tens of thousands of sessions would be megabytes: the first cli-max-output-sessions, as the CLI's ps.
        int shown = Math.Min(sessions.Count, Math.Max(1, _settings.CliMaxOutputSessions));
        if (shown < sessions.Count)
        {
            page.Paragraph(string.Create(CultureInfo.InvariantCulture, $"Showing the first {shown} (cli-max-output-sessions); the CLI's ps and psp find others by user."));
        }

        page.Raw("<table>\n").Row(true, false, "Id", "User", "Protocol", "Client address", "Relay addresses", "Age (s)", "Expires in (s)", "Received (packets/bytes)", "Sent (packets/bytes)", string.Empty);
        foreach (Allocation allocation in sessions.Take(shown))
        {
            TrafficTotals traffic = TrafficTotals.Of(allocation);
            string relays = string.Join(' ', new[] { allocation.RelayV4?.LocalAddress.ToString(), allocation.RelayV6?.LocalAddress.ToString() }.OfType<string>());
            page.Row(
                false,
                true,
                allocation.SessionId.ToString("D18", CultureInfo.InvariantCulture),
                allocation.Username,
                TurnMetrics.TypeLabel(allocation.FiveTuple.Protocol),
                allocation.FiveTuple.ClientAddress.ToString(),
                relays,
                ((long)allocation.Age.TotalSeconds).ToString(CultureInfo.InvariantCulture),
                allocation.SecondsToExpiry.ToString(CultureInfo.InvariantCulture),
                string.Create(CultureInfo.InvariantCulture, $"{traffic.ClientPacketsReceived}/{traffic.ClientBytesReceived}"),
                string.Create(CultureInfo.InvariantCulture, $"{traffic.ClientPacketsSent}/{traffic.ClientBytesSent}"));
            page.Raw("<td>").Form("/sessions/cancel", "Cancel", ("id", allocation.SessionId.ToString(CultureInfo.InvariantCulture))).Raw("</td></tr>\n");
        }

        return page.Raw("</table>\n");
    }

    private async Task UsersPageAsync(HttpResponse response, WebAdminLogin login)
    {
        var page = new WebAdminPage("Users", login);
        IReadOnlyList<UserDatabaseUser> users = await _database.ListUsersAsync(login.IsSuperuser ? null : login.Realm).ConfigureAwait(false);
        page.Raw("<table>\n").Row(true, false, "Name", "Realm", string.Empty);
        foreach (UserDatabaseUser user in users)
        {
            page.Row(false, true, user.Name, user.Realm).Raw("<td>").Form("/users/delete", "Delete", ("name", user.Name), ("realm", user.Realm)).Raw("</td></tr>\n");
        }

        page.Raw("</table>\n<h2>Add or change a user</h2>\n");
        page.InputForm("/users/add", "Save", RealmFields(login, ("name", "Name", "text", string.Empty), ("password", "Password", "password", string.Empty)));
        await WriteAsync(response, StatusCodes.Status200OK, page).ConfigureAwait(false);
    }

    private async Task SecretsPageAsync(HttpResponse response, WebAdminLogin login)
    {
        var page = new WebAdminPage("Shared secrets", login);
        IReadOnlyList<UserDatabaseSecret> secrets = await _database.ListSecretsAsync(login.IsSuperuser ? null : login.Realm).ConfigureAwait(false);
        page.Raw("<table>\n").Row(true, false, "Secret", "Realm", string.Empty);
        foreach (UserDatabaseSecret secret in secrets)
        {
            page.Row(false, true, secret.Value, secret.Realm).Raw("<td>").Form("/secrets/delete", "Delete", ("value", secret.Value), ("realm", secret.Realm)).Raw("</td></tr>\n");
        }

        page.Raw("</table>\n<h2>Add a secret</h2>\n");
        page.InputForm("/secrets/add", "Add", RealmFields(login, ("value", "Secret", "text", string.Empty)));
        await WriteAsync(response, StatusCodes.Status200OK, page).ConfigureAwait(false);
    }

    // A superuser names the realm (the server's by default); a realm's administrator works in its own.
    private (string Name, string Label, string Type, string Value)[] RealmFields(WebAdminLogin login, params (string Name, string Label, string Type, string Value)[] fields) =>
        login.IsSuperuser ? [.. fields, ("realm", "Realm", "text", _settings.Realm)] : fields;

    private Task CancelSessionAsync(HttpContext context, WebAdminLogin login, IFormCollection form)
    {
        if (login.May(_settings.Realm) && long.TryParse(form["id"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out long id)
            && _engine.Allocations.All.FirstOrDefault(a => a.SessionId == id) is { } allocation)
        {
            _engine.Allocations.Remove(allocation, AllocationEndReason.Cancelled);
            LogCancelled(_logger, login.Name, id);
            SeeOther(context.Response, "/sessions");
            return Task.CompletedTask;
        }

        return WriteAsync(context.Response, StatusCodes.Status404NotFound, new WebAdminPage("No such session", login));
    }

    private async Task AddUserAsync(HttpContext context, WebAdminLogin login, IFormCollection form)
    {
        string name = form["name"].ToString();
        string password = form["password"].ToString();
        if (!TryRealm(login, form, out string realm) || name.Length is 0 or > 512 || password.Length == 0)
        {
            await Refuse(context.Response, login, "A user needs a name (at most 512 characters), a password, and a realm you manage.").ConfigureAwait(false);
            return;
        }

        await _database.SetUserKeyAsync(realm, name, MessageIntegrity.ComputeLongTermKey(name, realm, password)).ConfigureAwait(false);
        LogUserAdded(_logger, login.Name, name, realm);
        SeeOther(context.Response, "/users");
    }

    private async Task DeleteUserAsync(HttpContext context, WebAdminLogin login, IFormCollection form)
    {
        string name = form["name"].ToString();
        if (!TryRealm(login, form, out string realm) || !await _database.DeleteUserAsync(realm, name).ConfigureAwait(false))
        {
            await Refuse(context.Response, login, "No such user in a realm you manage.").ConfigureAwait(false);
            return;
        }

        LogUserDeleted(_logger, login.Name, name, realm);
        SeeOther(context.Response, "/users");
    }

    private async Task AddSecretAsync(HttpContext context, WebAdminLogin login, IFormCollection form)
    {
        string value = form["value"].ToString();
        if (!TryRealm(login, form, out string realm) || value.Length is 0 or > 256)
        {
            await Refuse(context.Response, login, "A secret needs a value (at most 256 characters) and a realm you manage.").ConfigureAwait(false);
            return;
        }

        await _database.AddSecretAsync(realm, value).ConfigureAwait(false);
        LogSecretAdded(_logger, login.Name, realm);
        SeeOther(context.Response, "/secrets");
    }

    private async Task DeleteSecretAsync(HttpContext context, WebAdminLogin login, IFormCollection form)
    {
        if (!TryRealm(login, form, out string realm) || await _database.DeleteSecretAsync(realm, form["value"].ToString()).ConfigureAwait(false) == 0)
        {
            await Refuse(context.Response, login, "No such secret in a realm you manage.").ConfigureAwait(false);
            return;
        }

        LogSecretDeleted(_logger, login.Name, realm);
        SeeOther(context.Response, "/secrets");
    }

    // The form's realm (the server's when a superuser leaves it out; its own for a realm's administrator), if the login may manage it.
    private bool TryRealm(WebAdminLogin login, IFormCollection form, out string realm)
    {
        string given = form["realm"].ToString();
        realm = given.Length > 0 ? given : login.IsSuperuser ? _settings.Realm : login.Realm;
        return realm.Length is > 0 and <= 127 && login.May(realm);
    }

    private static Task Refuse(HttpResponse response, WebAdminLogin login, string why) =>
        WriteAsync(response, StatusCodes.Status400BadRequest, new WebAdminPage("Not done", login).Paragraph(why));

    private static void SeeOther(HttpResponse response, string location)
    {
        response.StatusCode = StatusCodes.Status303SeeOther;
        response.Headers.Location = location;
    }

    private static Task WriteAsync(HttpResponse response, int status, WebAdminPage page)
    {
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        return response.WriteAsync(page.ToString());
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin listening on {Address}")]
    private static partial void LogListening(ILogger logger, string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin login of {Admin} from {Client}")]
    private static partial void LogLogin(ILogger logger, string admin, string client);

    [LoggerMessage(Level = LogLevel.Warning, Message = "web admin login failed for '{Admin}' from {Client}")]
    private static partial void LogLoginFailed(ILogger logger, string admin, string client);

    [LoggerMessage(Level = LogLevel.Warning, Message = "web admin login attempts from {Client} refused for a minute: more than 5")]
    private static partial void LogLoginThrottled(ILogger logger, string client);

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin {Admin} cancelled session {Session:D18}")]
    private static partial void LogCancelled(ILogger logger, string admin, long session);

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin {Admin} set user {User} in realm {Realm}")]
    private static partial void LogUserAdded(ILogger logger, string admin, string user, string realm);

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin {Admin} deleted user {User} of realm {Realm}")]
    private static partial void LogUserDeleted(ILogger logger, string admin, string user, string realm);

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin {Admin} added a shared secret to realm {Realm}")]
    private static partial void LogSecretAdded(ILogger logger, string admin, string realm);

    [LoggerMessage(Level = LogLevel.Information, Message = "web admin {Admin} deleted a shared secret of realm {Realm}")]
    private static partial void LogSecretDeleted(ILogger logger, string admin, string realm);

    [LoggerMessage(Level = LogLevel.Error, Message = "web admin: user database {Database} failed: {Reason}")]
    private static partial void LogDatabaseFailed(ILogger logger, string database, string reason);
}
