using System.Security.Cryptography;
using System.Text;
using TurnServer.Stun;

namespace TurnServer.Core.Auth;

/// <summary>
/// TURN REST API credentials (coTURN's <c>use-auth-secret</c> with <c>static-auth-secret</c>; the IETF draft
/// draft-uberti-behave-turn-rest): the username carries an expiry timestamp in unix seconds and the password is
/// base64(HMAC-SHA1(secret, username)). The timestamp is the part of the username on the digits-only side of the
/// separator, or the whole username when there is no separator, as coTURN reads it. An expired or unreadable
/// timestamp finds no key, which the authenticator answers with 401.
/// </summary>
public sealed class TurnRestCredentials : ICredentialSource
{
    private readonly Func<IReadOnlyList<string>> _secrets;
    private readonly char _separator;
    private readonly TimeProvider _time;

    /// <summary>Creates the source. <paramref name="secrets"/> is read on every lookup, so a reload takes effect at once.</summary>
    public TurnRestCredentials(Func<IReadOnlyList<string>> secrets, char separator, TimeProvider time)
    {
        _secrets = secrets;
        _separator = separator;
        _time = time;
    }

    /// <summary>The password a REST client would use: base64(HMAC-SHA1(secret, username)).</summary>
    public static string ComputePassword(string secret, string username) =>
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(username)));

    /// <summary>Reads the expiry (unix seconds) out of a REST username; false when it has none.</summary>
    public static bool TryGetExpiry(string username, char separator, out long unixSeconds)
    {
        ArgumentNullException.ThrowIfNull(username);
        ReadOnlySpan<char> text = username;
        int at = text.IndexOf(separator);
        ReadOnlySpan<char> timestamp = at < 0 ? text
            : text[..at].ContainsAnyExceptInRange('0', '9') ? text[(at + 1)..]
            : text[..at];
        return long.TryParse(timestamp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out unixSeconds);
    }

    /// <inheritdoc />
    public CredentialLookupStatus Lookup(string username, string realm, List<byte[]> keys)
    {
        if (!TryGetExpiry(username, _separator, out long expiry) || expiry <= _time.GetUtcNow().ToUnixTimeSeconds())
        {
            return CredentialLookupStatus.NotFound;
        }

        IReadOnlyList<string> secrets = _secrets();
        foreach (string secret in secrets)
        {
            keys.Add(MessageIntegrity.ComputeLongTermKey(username, realm, ComputePassword(secret, username)));
        }

        return secrets.Count > 0 ? CredentialLookupStatus.Found : CredentialLookupStatus.NotFound;
    }
}
