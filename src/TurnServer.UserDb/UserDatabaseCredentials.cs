using TurnServer.Core.Auth;

namespace TurnServer.UserDb;

/// <summary>
/// Long-term credential keys from the turndb's <c>turnusers_lt</c>, and RFC 7635 keys from its <c>oauth_key</c>,
/// served from the last snapshot read. Lookups never
/// touch the database: they run on the request path, so a slow or unreachable database can only make the keys stale
/// (by at most the refresh interval plus the time the database is down), never block a receive loop.
/// </summary>
public sealed class UserDatabaseCredentials : ICredentialSource, IOAuthKeySource
{
    private readonly string _realm;
    private volatile UserDatabaseSnapshot _snapshot = UserDatabaseSnapshot.Empty;

    /// <summary>Creates the source for the server's <paramref name="realm"/>, empty until <see cref="Snapshot"/> is set.</summary>
    public UserDatabaseCredentials(string realm) => _realm = realm ?? throw new ArgumentNullException(nameof(realm));

    /// <summary>The data lookups are answered from; replaced whole by each refresh.</summary>
    public UserDatabaseSnapshot Snapshot
    {
        get => _snapshot;
        set => _snapshot = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <inheritdoc />
    public CredentialLookupStatus Lookup(string username, string realm, List<byte[]> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (string.Equals(realm, _realm, StringComparison.Ordinal) && _snapshot.Keys.TryGetValue(username, out byte[]? key))
        {
            keys.Add(key);
            return CredentialLookupStatus.Found;
        }

        return CredentialLookupStatus.NotFound;
    }

    /// <inheritdoc />
    public bool TryGetOAuthKey(string kid, out OAuthKey key) => _snapshot.OAuthKeys.TryGetValue(kid, out key!);
}
