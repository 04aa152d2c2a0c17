using TurnServer.Stun;

namespace TurnServer.Core.Auth;

/// <summary>
/// Users from the configuration (coTURN's <c>user=name:password</c> or <c>user=name:0x&lt;hex key&gt;</c>), with keys
/// computed once at start for the server's realm.
/// </summary>
public sealed class StaticUserCredentials : ICredentialSource
{
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);
    private readonly string _realm;

    /// <summary>Creates the source for <paramref name="realm"/>.</summary>
    public StaticUserCredentials(string realm) => _realm = realm;

    /// <summary>Number of users.</summary>
    public int Count => _keys.Count;

    /// <summary>Adds a user by password; the key is MD5(name:realm:password).</summary>
    public void AddPassword(string username, string password) => _keys[username] = MessageIntegrity.ComputeLongTermKey(username, _realm, password);

    /// <summary>Adds a user by a precomputed 16-byte key, as <c>turnadmin -k</c> prints it.</summary>
    /// <exception cref="ArgumentException">The key is not 16 bytes.</exception>
    public void AddKey(string username, byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != MessageIntegrity.LongTermKeyLength)
        {
            throw new ArgumentException("A long-term key is 16 bytes (32 hex digits).", nameof(key));
        }

        _keys[username] = key;
    }

    /// <inheritdoc />
    public CredentialLookupStatus Lookup(string username, string realm, List<byte[]> keys)
    {
        if (string.Equals(realm, _realm, StringComparison.Ordinal) && _keys.TryGetValue(username, out byte[]? key))
        {
            keys.Add(key);
            return CredentialLookupStatus.Found;
        }

        return CredentialLookupStatus.NotFound;
    }
}
