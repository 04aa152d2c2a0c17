namespace TurnServer.Core.Auth;

/// <summary>Outcome of looking up the long-term key(s) for a username.</summary>
public enum CredentialLookupStatus
{
    /// <summary>At least one candidate key was added.</summary>
    Found,

    /// <summary>No such user here (or, for REST credentials, an expired or malformed timestamp).</summary>
    NotFound,
}

/// <summary>
/// A source of long-term credential keys (RFC 8489 section 9.2.2): MD5(username:realm:password), 16 bytes.
/// Lookups are synchronous and must be fast: sources backed by a database serve them from a cache.
/// </summary>
public interface ICredentialSource
{
    /// <summary>
    /// Adds to <paramref name="keys"/> every key the user might be signing with (several REST secrets give several).
    /// </summary>
    CredentialLookupStatus Lookup(string username, string realm, List<byte[]> keys);
}
