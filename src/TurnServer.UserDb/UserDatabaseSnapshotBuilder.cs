using System.Globalization;
using TurnServer.Core.Auth;
using TurnServer.Core.Peers;

namespace TurnServer.UserDb;

/// <summary>
/// Collects what one read of a turndb found, whichever engine it came from, into a <see cref="UserDatabaseSnapshot"/>:
/// values that cannot be used are left out and named in <see cref="UserDatabaseSnapshot.Problems"/>.
/// </summary>
internal sealed class UserDatabaseSnapshotBuilder
{
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);
    private readonly List<string> _secrets = [];
    private readonly List<IPAddressRange> _allowed = [];
    private readonly List<IPAddressRange> _denied = [];
    private readonly Dictionary<string, OAuthKey> _oauthKeys = new(StringComparer.Ordinal);
    private readonly List<string> _problems = [];
    private int? _userQuota;
    private int? _totalQuota;
    private int? _maxBps;

    /// <summary>A user's stored key (32 hex digits); <paramref name="where"/> names the table or key in messages.</summary>
    public void AddUserKey(string where, string name, string hex)
    {
        if (TurnUserDatabase.TryParseKey(hex, out byte[]? key))
        {
            _keys[name] = key;
        }
        else
        {
            _problems.Add($"{where}: user '{name}' has a key that is not 32 hex digits (an MD5 key); ignored");
        }
    }

    /// <summary>A REST API shared secret; empty ones are skipped.</summary>
    public void AddSecret(string secret)
    {
        if (secret.Length > 0)
        {
            _secrets.Add(secret);
        }
    }

    /// <summary>An <c>allowed-peer-ip</c> (<paramref name="allowed"/>) or <c>denied-peer-ip</c> range as text.</summary>
    public void AddPeerRange(bool allowed, string where, string text)
    {
        if (IPAddressRange.TryParse(text.Trim(), out IPAddressRange range))
        {
            (allowed ? _allowed : _denied).Add(range);
        }
        else
        {
            _problems.Add($"{where}: '{text}' is not an IP address or range; ignored");
        }
    }

    /// <summary>A realm option: <c>user-quota</c>, <c>total-quota</c> or <c>max-bps</c>; other names are ignored, as coTURN ignores them.</summary>
    public void AddRealmOption(string where, string option, string value)
    {
        bool number = int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int parsed);
        switch (option.Trim())
        {
            case "user-quota" when number:
                _userQuota = parsed;
                break;
            case "total-quota" when number:
                _totalQuota = parsed;
                break;
            case "max-bps" when number:
                _maxBps = parsed;
                break;
            case "user-quota" or "total-quota" or "max-bps":
                _problems.Add($"{where}: '{option}' = '{value}' is not a number; ignored");
                break;
        }
    }

    /// <summary>An RFC 7635 key as stored: base64 input keying material, timestamp and lifetime in seconds as text (empty for 0), algorithm.</summary>
    public void AddOAuthKey(string where, string kid, string ikm, string timestamp, string lifetime, string algorithm)
    {
        bool numbers = long.TryParse(timestamp.Length == 0 ? "0" : timestamp, NumberStyles.Integer, CultureInfo.InvariantCulture, out long start)
            & long.TryParse(lifetime.Length == 0 ? "0" : lifetime, NumberStyles.Integer, CultureInfo.InvariantCulture, out long seconds);
        string? problem = "timestamp or lifetime is not a number";
        if (numbers && OAuthKey.TryCreate(kid, ikm, algorithm, start, seconds, out problem) is { } key)
        {
            _oauthKeys[key.Kid] = key;
        }
        else
        {
            _problems.Add($"{where}: kid '{kid}': {problem}; ignored");
        }
    }

    /// <summary>Something that made the read incomplete (a missing table), said in a sentence.</summary>
    public void AddProblem(string problem) => _problems.Add(problem);

    /// <summary>The snapshot of everything added.</summary>
    public UserDatabaseSnapshot Build() =>
        new(_keys, _secrets, _allowed, _denied, _userQuota, _totalQuota, _maxBps, _problems) { OAuthKeys = _oauthKeys };
}
