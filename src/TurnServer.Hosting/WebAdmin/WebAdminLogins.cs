using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using TurnServer.UserDb;

namespace TurnServer.Hosting.WebAdmin;

/// <summary>
/// One logged-in administrator of the web admin interface.
/// </summary>
/// <param name="Name">The <c>admin_user</c> name.</param>
/// <param name="Realm">The one realm it may manage, or empty for a superuser.</param>
/// <param name="CsrfToken">The token every form of this login carries back (32 random bytes, base64url), so another site cannot post forms in its name.</param>
/// <param name="PasswordDigest">
/// SHA-256 of the administrator's stored password when the login began: a password changed since (<c>turnadmin -A</c>)
/// ends the login, so a stolen cookie dies with the password it was won with.
/// </param>
internal sealed record WebAdminLogin(string Name, string Realm, string CsrfToken, byte[] PasswordDigest)
{
    /// <summary>The digest <see cref="PasswordDigest"/> holds for <paramref name="storedPassword"/> (the <c>admin_user</c> value).</summary>
    public static byte[] Digest(string storedPassword) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(storedPassword));

    /// <summary>Whether <paramref name="storedPassword"/> is still the one the login began with (constant-time).</summary>
    public bool HasPassword(string storedPassword) => CryptographicOperations.FixedTimeEquals(Digest(storedPassword), PasswordDigest);

    /// <summary>When the login was last used (<see cref="TimeProvider.GetTimestamp"/> ticks).</summary>
    public long LastUsed { get; set; }

    /// <summary>When the login began (<see cref="TimeProvider.GetTimestamp"/> ticks).</summary>
    public long Started { get; init; }

    /// <summary>True for a superuser, who may manage every realm.</summary>
    public bool IsSuperuser => Realm.Length == 0;

    /// <summary>Whether this administrator may manage <paramref name="realm"/>.</summary>
    public bool May(string realm) => IsSuperuser || string.Equals(Realm, realm, StringComparison.Ordinal);
}

/// <summary>
/// The web admin's logins, kept in memory and named by a random cookie value (32 bytes, base64url). A login unused for
/// <see cref="IdleTimeout"/> ends, and any login after <see cref="MaxLifetime"/>, so a stolen cookie kept in use does
/// not last. At most <see cref="MaxLoginsPerAdmin"/> are kept per administrator and <see cref="MaxLogins"/> in all, the
/// least recently used going first: logging in over and over cannot grow the server's memory, nor push out the logins
/// of other administrators. Thread-safe.
/// </summary>
internal sealed class WebAdminLogins
{
    /// <summary>How long a login may go unused before it ends.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(30);

    /// <summary>How long a login lasts however often it is used.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(12);

    /// <summary>Most logins kept at once.</summary>
    public const int MaxLogins = 64;

    /// <summary>Most logins one administrator keeps at once.</summary>
    public const int MaxLoginsPerAdmin = 4;

    private readonly ConcurrentDictionary<string, WebAdminLogin> _logins = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    /// <summary>Logins timed by <paramref name="time"/>.</summary>
    public WebAdminLogins(TimeProvider time) => _time = time;

    /// <summary>Starts a login for <paramref name="admin"/>; returns the cookie value that names it.</summary>
    public string Start(UserDatabaseAdmin admin)
    {
        lock (_logins)
        {
            while (_logins.Count(l => l.Value.Name == admin.Name) >= MaxLoginsPerAdmin)
            {
                _logins.TryRemove(_logins.Where(l => l.Value.Name == admin.Name).MinBy(l => l.Value.LastUsed).Key, out _);
            }

            while (_logins.Count >= MaxLogins)
            {
                string oldest = _logins.MinBy(l => l.Value.LastUsed).Key;
                _logins.TryRemove(oldest, out _);
            }

            string id = NewToken();
            long now = _time.GetTimestamp();
            _logins[id] = new WebAdminLogin(admin.Name, admin.Realm, NewToken(), WebAdminLogin.Digest(admin.Password)) { LastUsed = now, Started = now };
            return id;
        }
    }

    /// <summary>The live login named <paramref name="id"/> (the cookie's value), which this use keeps alive.</summary>
    public bool TryGet(string? id, [NotNullWhen(true)] out WebAdminLogin? login)
    {
        if (id is null || !_logins.TryGetValue(id, out login))
        {
            login = null;
            return false;
        }

        long now = _time.GetTimestamp();
        if (_time.GetElapsedTime(login.LastUsed, now) > IdleTimeout || _time.GetElapsedTime(login.Started, now) > MaxLifetime)
        {
            _logins.TryRemove(id, out _);
            login = null;
            return false;
        }

        login.LastUsed = now;
        return true;
    }

    /// <summary>Ends the login named <paramref name="id"/>, if there is one.</summary>
    public void End(string? id)
    {
        if (id is not null)
        {
            _logins.TryRemove(id, out _);
        }
    }

    private static string NewToken() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
}
