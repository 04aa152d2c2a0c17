namespace TurnServer.UserDb;

/// <summary>Which database engine holds the turndb.</summary>
public enum UserDatabaseKind
{
    /// <summary>A SQLite file (coTURN's <c>userdb</c>).</summary>
    Sqlite,

    /// <summary>A PostgreSQL database (coTURN's <c>psql-userdb</c>).</summary>
    PostgreSql,

    /// <summary>A Redis database (coTURN's <c>redis-userdb</c>), in coTURN's key layout (schema.userdb.redis).</summary>
    Redis,
}

/// <summary>A user (<c>turnusers_lt</c> row) as <c>turnadmin -l</c> lists it.</summary>
/// <param name="Name">The user name.</param>
/// <param name="Realm">Its realm.</param>
public sealed record UserDatabaseUser(string Name, string Realm);

/// <summary>A REST API shared secret (<c>turn_secret</c> row).</summary>
/// <param name="Value">The secret.</param>
/// <param name="Realm">Its realm.</param>
public sealed record UserDatabaseSecret(string Value, string Realm);

/// <summary>A realm option (<c>turn_realm_option</c> row): <c>max-bps</c>, <c>total-quota</c> or <c>user-quota</c>.</summary>
/// <param name="Realm">The realm.</param>
/// <param name="Option">The option name.</param>
/// <param name="Value">Its value.</param>
public sealed record UserDatabaseRealmOption(string Realm, string Option, string Value);

/// <summary>An administrator of the web admin interface (<c>admin_user</c> row), as <c>turnadmin -L</c> lists it.</summary>
/// <param name="Name">The administrator's name.</param>
/// <param name="Realm">The one realm it may manage, or empty for a superuser, who may manage every realm.</param>
/// <param name="Password">The stored password: <see cref="AdminPassword"/>'s <c>$5$</c> form, or the password itself.</param>
public sealed record UserDatabaseAdmin(string Name, string Realm, string Password);

/// <summary>
/// coTURN's user database ("turndb"): a SQLite file or a PostgreSQL database in coTURN's SQL schema (schema.sql), or a
/// Redis database in coTURN's key layout (schema.userdb.redis), unchanged, so a database made by coTURN's turnadmin works
/// as it is and one made here works with coTURN. Keys are the long-term credential keys MD5(user:realm:password) in hex
/// (RFC 8489 section 9.2.2). The server reads it through <see cref="UserDatabaseCredentials"/>, never on a receive loop;
/// <c>turnadmin</c> edits it. One instance may be used from several threads.
/// </summary>
/// <remarks>
/// Every call that reaches the database throws <see cref="System.Data.Common.DbException"/> (SQL engines) or
/// <see cref="IOException"/> (Redis, whose client errors are wrapped in it) when the database cannot be reached or
/// refuses the statement.
/// </remarks>
public abstract class TurnUserDatabase : IDisposable
{
    private protected TurnUserDatabase(UserDatabaseKind kind, string description)
    {
        Kind = kind;
        Description = description;
    }

    /// <summary>SQLite, PostgreSQL or Redis.</summary>
    public UserDatabaseKind Kind { get; }

    /// <summary>What to call the database in messages: the file, or host and database name; never the password.</summary>
    public string Description { get; }

    /// <summary>
    /// Where coTURN's builds look for the SQLite turndb when no user database is named, in order: the first that
    /// exists is used (the server's default <c>userdb</c>, and turnadmin's <c>-b</c>).
    /// </summary>
    public static IReadOnlyList<string> DefaultSqliteFiles { get; } = ["/var/db/turndb", "/usr/local/var/db/turndb", "/var/lib/turn/turndb"];

    /// <summary>
    /// coTURN's <c>userdb</c>: a SQLite file. As in coTURN, a missing file is created with the schema on first use; its
    /// directory must exist.
    /// </summary>
    public static TurnUserDatabase Sqlite(string path) => SqlUserDatabase.CreateSqlite(path);

    /// <summary>
    /// coTURN's <c>psql-userdb</c>: a libpq connection string (<c>host=... dbname=... user=... password=...</c> or a
    /// <c>postgresql://</c> URI). The tables must exist (coTURN's schema.sql), as coTURN requires.
    /// </summary>
    /// <exception cref="FormatException">The connection string cannot be read.</exception>
    public static TurnUserDatabase PostgreSql(string connectionString) => SqlUserDatabase.CreatePostgreSql(connectionString);

    /// <summary>
    /// coTURN's <c>redis-userdb</c>: <c>ip=... port=... dbname=... password=... connect_timeout=...</c> (host 127.0.0.1,
    /// port 6379 and database 0 when left out). One connection is kept for the instance's lifetime and re-established by
    /// itself after a failure, as coTURN keeps its one.
    /// </summary>
    /// <exception cref="FormatException">The connection string cannot be read.</exception>
    public static TurnUserDatabase Redis(string connectionString) => new RedisUserDatabase(RedisConnectionString.Parse(connectionString));

    /// <summary>
    /// Everything the server needs for <paramref name="realm"/>, read in one go (users, secrets, peer lists, options). A table
    /// that does not exist reads as empty and is named in <see cref="UserDatabaseSnapshot.Problems"/>, as coTURN, which
    /// queries each on its own, still authenticates without the optional ones.
    /// </summary>
    /// <param name="realm">The server's realm.</param>
    /// <param name="withOAuthKeys">Whether to read the RFC 7635 keys too (option <c>oauth</c>); coTURN reads them only then.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public abstract Task<UserDatabaseSnapshot> LoadAsync(string realm, bool withOAuthKeys = false, CancellationToken cancellationToken = default);

    /// <summary>Adds a user or replaces its key (<c>turnadmin -a</c>).</summary>
    /// <param name="realm">The realm.</param>
    /// <param name="name">The user name.</param>
    /// <param name="key">The 16-byte long-term key, stored as 32 lower-case hex digits.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public abstract Task SetUserKeyAsync(string realm, string name, byte[] key, CancellationToken cancellationToken = default);

    /// <summary>Deletes a user (<c>turnadmin -d</c>); returns whether one was there.</summary>
    public abstract Task<bool> DeleteUserAsync(string realm, string name, CancellationToken cancellationToken = default);

    /// <summary>Users of <paramref name="realm"/>, or of every realm when it is null or empty (<c>turnadmin -l</c>), by realm then name.</summary>
    public abstract Task<IReadOnlyList<UserDatabaseUser>> ListUsersAsync(string? realm, CancellationToken cancellationToken = default);

    /// <summary>Adds a REST API shared secret (<c>turnadmin -s</c>); adding one twice keeps one.</summary>
    public abstract Task AddSecretAsync(string realm, string secret, CancellationToken cancellationToken = default);

    /// <summary>Secrets of <paramref name="realm"/>, or of every realm when it is null or empty (<c>turnadmin -S</c>), by realm then value.</summary>
    public abstract Task<IReadOnlyList<UserDatabaseSecret>> ListSecretsAsync(string? realm, CancellationToken cancellationToken = default);

    /// <summary>Deletes one secret of <paramref name="realm"/> (<c>turnadmin -X</c>); returns how many went (0 or 1).</summary>
    public abstract Task<int> DeleteSecretAsync(string realm, string secret, CancellationToken cancellationToken = default);

    /// <summary>Deletes every secret of <paramref name="realm"/> (<c>turnadmin --delete-all-secrets</c>); returns how many went.</summary>
    public abstract Task<int> DeleteAllSecretsAsync(string realm, CancellationToken cancellationToken = default);

    /// <summary>Sets a realm option (<c>turnadmin -g</c>); a value of 0 removes it, as in coTURN.</summary>
    public abstract Task SetRealmOptionAsync(string realm, string option, int value, CancellationToken cancellationToken = default);

    /// <summary>Realm options of <paramref name="realm"/>, or of every realm (<c>turnadmin -G</c>), by realm then option.</summary>
    public abstract Task<IReadOnlyList<UserDatabaseRealmOption>> ListRealmOptionsAsync(string? realm, CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds an administrator or replaces its realm and password (<c>turnadmin -A</c>); <paramref name="password"/> is
    /// stored as given, so pass <see cref="AdminPassword.Encrypt(string)"/>'s form.
    /// </summary>
    public abstract Task SetAdminUserAsync(string name, string realm, string password, CancellationToken cancellationToken = default);

    /// <summary>Deletes an administrator (<c>turnadmin -D</c>); returns whether one was there.</summary>
    public abstract Task<bool> DeleteAdminUserAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every administrator (<c>turnadmin -L</c>), by name.</summary>
    public abstract Task<IReadOnlyList<UserDatabaseAdmin>> ListAdminUsersAsync(CancellationToken cancellationToken = default);

    /// <summary>The administrator called <paramref name="name"/>, or null; read from the database on each call, so a new one may log in at once.</summary>
    public abstract Task<UserDatabaseAdmin?> FindAdminUserAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Reads a stored key: 32 hex digits, possibly padded with blanks by a <c>char(128)</c> column.</summary>
    public static bool TryParseKey(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? key)
    {
        ArgumentNullException.ThrowIfNull(text);
        string hex = text.Trim();
        key = null;
        if (hex.Length != 32)
        {
            return false;
        }

        try
        {
            key = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Closes the connection a Redis database keeps; nothing for the SQL engines, which pool per call.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what the engine holds.</summary>
    /// <param name="disposing">True when called from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }
}
