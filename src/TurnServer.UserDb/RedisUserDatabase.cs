using System.Globalization;
using StackExchange.Redis;

namespace TurnServer.UserDb;

/// <summary>
/// The turndb in Redis, in coTURN's key layout (schema.userdb.redis): strings
/// <c>turn/realm/&lt;realm&gt;/user/&lt;name&gt;/key</c> (the key in hex), sets <c>turn/realm/&lt;realm&gt;/secret</c>,
/// <c>turn/realm/&lt;realm&gt;/allowed-peer-ip</c> and <c>turn/realm/&lt;realm&gt;/denied-peer-ip</c>, strings
/// <c>turn/realm/&lt;realm&gt;/max-bps</c>, <c>total-quota</c> and <c>user-quota</c>, and hashes
/// <c>turn/oauth/kid/&lt;kid&gt;</c> (ikm_key, timestamp, lifetime, as_rs_alg, realm) and
/// <c>turn/admin_user/&lt;name&gt;</c> (password, and realm for an administrator of one realm). Peer ranges of the empty realm
/// (<c>turn/realm//allowed-peer-ip</c>) apply to every realm, as rows with an empty realm do in the SQL engines.
/// Listings use SCAN, never KEYS, so they do not block the Redis server.
/// </summary>
internal sealed class RedisUserDatabase : TurnUserDatabase
{
    private const string RealmPrefix = "turn/realm/";
    private const string OAuthPrefix = "turn/oauth/kid/";
    private const string AdminPrefix = "turn/admin_user/";
    private static readonly string[] RealmOptions = ["max-bps", "total-quota", "user-quota"];

    private readonly RedisLink _link;

    public RedisUserDatabase((ConfigurationOptions Options, int Database, string Description) settings)
        : base(UserDatabaseKind.Redis, settings.Description) => _link = new RedisLink(settings);

    /// <inheritdoc />
    public override Task<UserDatabaseSnapshot> LoadAsync(string realm, bool withOAuthKeys = false, CancellationToken cancellationToken = default) => RunAsync(async db =>
    {
        var snapshot = new UserDatabaseSnapshotBuilder();
        RedisKey[] userKeys = await ScanAsync(db, RealmPrefix + Glob(realm) + "/user/*/key");
        RedisValue[] hexKeys = userKeys.Length == 0 ? [] : await db.StringGetAsync(userKeys).ConfigureAwait(false);
        for (int i = 0; i < userKeys.Length; i++)
        {
            if (ParseUserKey(userKeys[i]) is (_, string name) && !hexKeys[i].IsNull)
            {
                snapshot.AddUserKey(userKeys[i], name, hexKeys[i]!);
            }
        }

        foreach (string secret in (await db.SetMembersAsync(RealmPrefix + realm + "/secret").ConfigureAwait(false)).Select(v => (string)v!).Order(StringComparer.Ordinal))
        {
            snapshot.AddSecret(secret);
        }

        foreach ((string list, bool allowed) in new[] { ("allowed-peer-ip", true), ("denied-peer-ip", false) })
        {
            foreach (string setKey in realm.Length == 0 ? [RealmPrefix + "/" + list] : new[] { RealmPrefix + realm + "/" + list, RealmPrefix + "/" + list })
            {
                foreach (RedisValue range in await db.SetMembersAsync(setKey).ConfigureAwait(false))
                {
                    snapshot.AddPeerRange(allowed, setKey, range!);
                }
            }
        }

        RedisValue[] options = await db.StringGetAsync([.. RealmOptions.Select(o => (RedisKey)(RealmPrefix + realm + "/" + o))]).ConfigureAwait(false);
        for (int i = 0; i < RealmOptions.Length; i++)
        {
            if (!options[i].IsNull)
            {
                snapshot.AddRealmOption(RealmPrefix + realm + "/" + RealmOptions[i], RealmOptions[i], options[i]!);
            }
        }

        foreach (RedisKey kidKey in withOAuthKeys ? await ScanAsync(db, OAuthPrefix + "*") : [])
        {
            Dictionary<string, string> fields = (await db.HashGetAllAsync(kidKey).ConfigureAwait(false))
                .ToDictionary(f => (string)f.Name!, f => (string)f.Value!, StringComparer.Ordinal);
            snapshot.AddOAuthKey(
                "turn/oauth/kid",
                ((string)kidKey!)[OAuthPrefix.Length..],
                fields.GetValueOrDefault("ikm_key", string.Empty),
                fields.GetValueOrDefault("timestamp", string.Empty),
                fields.GetValueOrDefault("lifetime", string.Empty),
                fields.GetValueOrDefault("as_rs_alg", string.Empty));
        }

        return snapshot.Build();
    }, cancellationToken);

    /// <inheritdoc />
    public override Task SetUserKeyAsync(string realm, string name, byte[] key, CancellationToken cancellationToken = default) =>
        RunAsync(db => db.StringSetAsync(UserKey(realm, name), Convert.ToHexStringLower(key)), cancellationToken);

    /// <inheritdoc />
    public override Task<bool> DeleteUserAsync(string realm, string name, CancellationToken cancellationToken = default) =>
        RunAsync(db => db.KeyDeleteAsync(UserKey(realm, name)), cancellationToken);

    /// <inheritdoc />
    public override Task<IReadOnlyList<UserDatabaseUser>> ListUsersAsync(string? realm, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<UserDatabaseUser>>(
            async db => [.. (await ScanAsync(db, RealmPrefix + RealmGlob(realm) + "/user/*/key"))
                .Select(ParseUserKey)
                .OfType<(string Realm, string Name)>()
                .Select(u => new UserDatabaseUser(u.Name, u.Realm))
                .OrderBy(u => u.Realm, StringComparer.Ordinal)
                .ThenBy(u => u.Name, StringComparer.Ordinal)],
            cancellationToken);

    /// <inheritdoc />
    public override Task AddSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) =>
        RunAsync(db => db.SetAddAsync(RealmPrefix + realm + "/secret", secret), cancellationToken);

    /// <inheritdoc />
    public override Task<IReadOnlyList<UserDatabaseSecret>> ListSecretsAsync(string? realm, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<UserDatabaseSecret>>(async db =>
        {
            var secrets = new List<UserDatabaseSecret>();
            foreach (RedisKey setKey in await ScanAsync(db, RealmPrefix + RealmGlob(realm) + "/secret"))
            {
                string setRealm = ((string)setKey!)[RealmPrefix.Length..^"/secret".Length];
                secrets.AddRange((await db.SetMembersAsync(setKey).ConfigureAwait(false)).Select(v => new UserDatabaseSecret(v!, setRealm)));
            }

            return [.. secrets.OrderBy(s => s.Realm, StringComparer.Ordinal).ThenBy(s => s.Value, StringComparer.Ordinal)];
        }, cancellationToken);

    /// <inheritdoc />
    public override Task<int> DeleteSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) =>
        RunAsync(async db => await db.SetRemoveAsync(RealmPrefix + realm + "/secret", secret).ConfigureAwait(false) ? 1 : 0, cancellationToken);

    /// <inheritdoc />
    public override Task<int> DeleteAllSecretsAsync(string realm, CancellationToken cancellationToken = default) =>
        RunAsync(async db =>
        {
            // Counted and deleted in one MULTI/EXEC, so the count is of what the deletion removed.
            ITransaction transaction = db.CreateTransaction();
            Task<long> count = transaction.SetLengthAsync(RealmPrefix + realm + "/secret");
            _ = transaction.KeyDeleteAsync(RealmPrefix + realm + "/secret");
            await transaction.ExecuteAsync().ConfigureAwait(false);
            return (int)await count.ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public override Task SetRealmOptionAsync(string realm, string option, int value, CancellationToken cancellationToken = default) =>
        RunAsync(db => value == 0
            ? db.KeyDeleteAsync(RealmPrefix + realm + "/" + option)
            : db.StringSetAsync(RealmPrefix + realm + "/" + option, value.ToString(CultureInfo.InvariantCulture)), cancellationToken);

    /// <inheritdoc />
    public override Task<IReadOnlyList<UserDatabaseRealmOption>> ListRealmOptionsAsync(string? realm, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<UserDatabaseRealmOption>>(async db =>
        {
            var found = new List<UserDatabaseRealmOption>();
            foreach (string option in RealmOptions)
            {
                RedisKey[] keys = await ScanAsync(db, RealmPrefix + RealmGlob(realm) + "/" + option);
                RedisValue[] values = keys.Length == 0 ? [] : await db.StringGetAsync(keys).ConfigureAwait(false);
                for (int i = 0; i < keys.Length; i++)
                {
                    if (!values[i].IsNull)
                    {
                        found.Add(new UserDatabaseRealmOption(((string)keys[i]!)[RealmPrefix.Length..^(option.Length + 1)], option, values[i]!));
                    }
                }
            }

            return [.. found.OrderBy(o => o.Realm, StringComparer.Ordinal).ThenBy(o => o.Option, StringComparer.Ordinal)];
        }, cancellationToken);

    /// <inheritdoc />
    public override Task SetAdminUserAsync(string name, string realm, string password, CancellationToken cancellationToken = default) =>
        RunAsync(async db =>
        {
            // coTURN leaves the realm out of a superuser's hash; a stale one from an earlier realm admin must go too.
            ITransaction transaction = db.CreateTransaction();
            _ = transaction.KeyDeleteAsync(AdminPrefix + name);
            _ = transaction.HashSetAsync(AdminPrefix + name, realm.Length == 0 ? [new("password", password)] : [new("password", password), new("realm", realm)]);
            await transaction.ExecuteAsync().ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public override Task<bool> DeleteAdminUserAsync(string name, CancellationToken cancellationToken = default) =>
        RunAsync(db => db.KeyDeleteAsync(AdminPrefix + name), cancellationToken);

    /// <inheritdoc />
    public override Task<IReadOnlyList<UserDatabaseAdmin>> ListAdminUsersAsync(CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<UserDatabaseAdmin>>(async db =>
        {
            var admins = new List<UserDatabaseAdmin>();
            foreach (RedisKey key in await ScanAsync(db, AdminPrefix + "*"))
            {
                if (await ReadAdminAsync(db, ((string)key!)[AdminPrefix.Length..]).ConfigureAwait(false) is { } admin)
                {
                    admins.Add(admin);
                }
            }

            return [.. admins.OrderBy(a => a.Name, StringComparer.Ordinal)];
        }, cancellationToken);

    /// <inheritdoc />
    public override Task<UserDatabaseAdmin?> FindAdminUserAsync(string name, CancellationToken cancellationToken = default) =>
        RunAsync(db => ReadAdminAsync(db, name), cancellationToken);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _link.Dispose();
        }

        base.Dispose(disposing);
    }

    private static async Task<UserDatabaseAdmin?> ReadAdminAsync(IDatabase db, string name)
    {
        RedisValue[] fields = await db.HashGetAsync(AdminPrefix + name, ["password", "realm"]).ConfigureAwait(false);
        return fields[0].IsNull ? null : new UserDatabaseAdmin(name, fields[1].IsNull ? string.Empty : (string)fields[1]!, fields[0]!);
    }

    private static string UserKey(string realm, string name) => RealmPrefix + realm + "/user/" + name + "/key";

    // turn/realm/<realm>/user/<name>/key: the realm ends at the first "/user/" (coTURN's realms have no '/').
    private static (string Realm, string Name)? ParseUserKey(RedisKey key)
    {
        string text = key!;
        int user = text.IndexOf("/user/", RealmPrefix.Length, StringComparison.Ordinal);
        return text.StartsWith(RealmPrefix, StringComparison.Ordinal) && text.EndsWith("/key", StringComparison.Ordinal) && user >= 0 && user + "/user/".Length <= text.Length - "/key".Length
            ? (text[RealmPrefix.Length..user], text[(user + "/user/".Length)..^"/key".Length])
            : null;
    }

    private static string RealmGlob(string? realm) => string.IsNullOrEmpty(realm) ? "*" : Glob(realm);

    // A realm is matched literally: Redis glob characters in it are escaped.
    private static string Glob(string literal)
    {
        var escaped = new System.Text.StringBuilder(literal.Length);
        foreach (char c in literal)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }

    // SCAN through the asynchronous command path: the client's own IServer.Keys is synchronous, and a synchronous call
    // on a thread that completes the client's tasks waits for a reply only that thread could read.
    private static async Task<RedisKey[]> ScanAsync(IDatabase db, string pattern)
    {
        var keys = new List<RedisKey>();
        string cursor = "0";
        do
        {
            var page = (RedisResult[])(await db.ExecuteAsync("SCAN", cursor, "MATCH", pattern, "COUNT", 1000).ConfigureAwait(false))!;
            cursor = (string)page[0]!;
            keys.AddRange((RedisKey[])page[1]!);
        }
        while (cursor != "0");

        return [.. keys.Distinct()];
    }

    private Task<T> RunAsync<T>(Func<IDatabase, Task<T>> call, CancellationToken cancellationToken) => _link.RunAsync(call, cancellationToken);

    private Task RunAsync(Func<IDatabase, Task> call, CancellationToken cancellationToken) => _link.RunAsync(call, cancellationToken);
}
