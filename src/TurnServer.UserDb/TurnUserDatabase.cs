using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;
using TurnServer.Core.Auth;
using TurnServer.Core.Peers;

namespace TurnServer.UserDb;

/// <summary>Which database engine holds the turndb.</summary>
public enum UserDatabaseKind
{
    /// <summary>A SQLite file (coTURN's <c>userdb</c>).</summary>
    Sqlite,

    /// <summary>A PostgreSQL database (coTURN's <c>psql-userdb</c>).</summary>
    PostgreSql,
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

/// <summary>
/// coTURN's user database ("turndb") in SQLite or PostgreSQL, with coTURN's schema unchanged (schema.sql:
/// <c>turnusers_lt</c>, <c>turn_secret</c>, <c>allowed_peer_ip</c>, <c>denied_peer_ip</c>, <c>turn_realm_option</c>,
/// <c>turn_origin_to_realm</c>, <c>oauth_key</c>, <c>admin_user</c>), so a database made by coTURN's turnadmin works as
/// it is and one made here works with coTURN. Keys in <c>turnusers_lt.hmackey</c> are the long-term credential keys
/// MD5(user:realm:password) in hex (RFC 8489 section 9.2.2). The server reads it through
/// <see cref="UserDatabaseCredentials"/>, never on a receive loop; <c>turnadmin</c> edits it. Each call opens its own
/// connection (pooled by the driver), so one instance may be used from several threads.
/// </summary>
public sealed class TurnUserDatabase
{
    private static readonly string[] SqliteSchema =
    [
        "CREATE TABLE IF NOT EXISTS turnusers_lt (realm varchar(127) default '', name varchar(512), hmackey char(128), PRIMARY KEY (realm,name))",
        "CREATE TABLE IF NOT EXISTS turn_secret (realm varchar(127) default '', value varchar(256), primary key (realm,value))",
        "CREATE TABLE IF NOT EXISTS allowed_peer_ip (realm varchar(127) default '', ip_range varchar(256), primary key (realm,ip_range))",
        "CREATE TABLE IF NOT EXISTS denied_peer_ip (realm varchar(127) default '', ip_range varchar(256), primary key (realm,ip_range))",
        "CREATE TABLE IF NOT EXISTS turn_origin_to_realm (origin varchar(127), realm varchar(127), primary key (origin))",
        "CREATE TABLE IF NOT EXISTS turn_realm_option (realm varchar(127) default '', opt varchar(32), value varchar(128), primary key (realm,opt))",
        "CREATE TABLE IF NOT EXISTS oauth_key (kid varchar(128), ikm_key varchar(256), timestamp bigint default 0, lifetime integer default 0, as_rs_alg varchar(64) default '', realm varchar(127) default '', primary key (kid))",
        "CREATE TABLE IF NOT EXISTS admin_user (name varchar(32), realm varchar(127), password varchar(127), primary key (name))",
    ];

    private static int s_sqliteInitialized;

    private readonly string _connectionString;
    private bool _schemaChecked;

    private TurnUserDatabase(UserDatabaseKind kind, string connectionString, string description)
    {
        Kind = kind;
        _connectionString = connectionString;
        Description = description;
    }

    /// <summary>SQLite or PostgreSQL.</summary>
    public UserDatabaseKind Kind { get; }

    /// <summary>What to call the database in messages: the file, or host and database name; never the password.</summary>
    public string Description { get; }

    /// <summary>
    /// coTURN's <c>userdb</c>: a SQLite file. As in coTURN, a missing file is created with the schema on first use; its
    /// directory must exist.
    /// </summary>
    public static TurnUserDatabase Sqlite(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Interlocked.Exchange(ref s_sqliteInitialized, 1) == 0)
        {
            SQLitePCL.Batteries_V2.Init();
        }

        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, DefaultTimeout = 5 };
        return new TurnUserDatabase(UserDatabaseKind.Sqlite, builder.ToString(), "SQLite " + path);
    }

    /// <summary>
    /// coTURN's <c>psql-userdb</c>: a libpq connection string (<c>host=... dbname=... user=... password=...</c> or a
    /// <c>postgresql://</c> URI). The tables must exist (coTURN's schema.sql), as coTURN requires.
    /// </summary>
    /// <exception cref="FormatException">The connection string cannot be read.</exception>
    public static TurnUserDatabase PostgreSql(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder = PostgresConnectionString.ToNpgsql(connectionString);
        return new TurnUserDatabase(UserDatabaseKind.PostgreSql, builder.ConnectionString, $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}");
    }

    /// <summary>Everything the server needs for <paramref name="realm"/>, read in one go (users, secrets, peer lists, options).</summary>
    public async Task<UserDatabaseSnapshot> LoadAsync(string realm, CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        await using DbConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);

        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string[] row in await QueryAsync(connection, "SELECT name, hmackey FROM turnusers_lt WHERE realm = @realm", [("realm", realm)], cancellationToken).ConfigureAwait(false))
        {
            if (TryParseKey(row[1], out byte[]? key))
            {
                keys[row[0]] = key;
            }
            else
            {
                problems.Add($"turnusers_lt: user '{row[0]}' has a hmackey that is not 32 hex digits (an MD5 key); ignored");
            }
        }

        List<string> secrets = [.. (await QueryAsync(connection, "SELECT value FROM turn_secret WHERE realm = @realm ORDER BY value", [("realm", realm)], cancellationToken).ConfigureAwait(false))
            .Select(r => r[0]).Where(v => v.Length > 0)];
        List<IPAddressRange> allowed = await RangesAsync(connection, "allowed_peer_ip", realm, problems, cancellationToken).ConfigureAwait(false);
        List<IPAddressRange> denied = await RangesAsync(connection, "denied_peer_ip", realm, problems, cancellationToken).ConfigureAwait(false);

        int? userQuota = null;
        int? totalQuota = null;
        int? maxBps = null;
        foreach (string[] row in await QueryAsync(connection, "SELECT opt, value FROM turn_realm_option WHERE realm = @realm", [("realm", realm)], cancellationToken).ConfigureAwait(false))
        {
            bool number = int.TryParse(row[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int value);
            switch (row[0].Trim())
            {
                case "user-quota" when number:
                    userQuota = value;
                    break;
                case "total-quota" when number:
                    totalQuota = value;
                    break;
                case "max-bps" when number:
                    maxBps = value;
                    break;
                case "user-quota" or "total-quota" or "max-bps":
                    problems.Add($"turn_realm_option: '{row[0]}' = '{row[1]}' is not a number; ignored");
                    break;
            }
        }

        var oauthKeys = new Dictionary<string, OAuthKey>(StringComparer.Ordinal);
        foreach (string[] row in await QueryAsync(connection, "SELECT kid, ikm_key, timestamp, lifetime, as_rs_alg FROM oauth_key", [], cancellationToken).ConfigureAwait(false))
        {
            bool numbers = long.TryParse(row[2].Length == 0 ? "0" : row[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out long timestamp)
                & long.TryParse(row[3].Length == 0 ? "0" : row[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out long lifetime);
            string? problem = "timestamp or lifetime is not a number";
            if (numbers && OAuthKey.TryCreate(row[0], row[1], row[4], timestamp, lifetime, out problem) is { } oauthKey)
            {
                oauthKeys[oauthKey.Kid] = oauthKey;
            }
            else
            {
                problems.Add($"oauth_key: kid '{row[0]}': {problem}; ignored");
            }
        }

        return new UserDatabaseSnapshot(keys, secrets, allowed, denied, userQuota, totalQuota, maxBps, problems) { OAuthKeys = oauthKeys };
    }

    /// <summary>Adds a user or replaces its key (<c>turnadmin -a</c>).</summary>
    /// <param name="realm">The realm.</param>
    /// <param name="name">The user name.</param>
    /// <param name="key">The 16-byte long-term key, stored as 32 lower-case hex digits.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task SetUserKeyAsync(string realm, string name, byte[] key, CancellationToken cancellationToken = default) =>
        ExecuteAsync(
            "INSERT INTO turnusers_lt (realm, name, hmackey) VALUES (@realm, @name, @key) ON CONFLICT (realm, name) DO UPDATE SET hmackey = excluded.hmackey",
            [("realm", realm), ("name", name), ("key", Convert.ToHexStringLower(key))],
            cancellationToken);

    /// <summary>Deletes a user (<c>turnadmin -d</c>); returns whether one was there.</summary>
    public async Task<bool> DeleteUserAsync(string realm, string name, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("DELETE FROM turnusers_lt WHERE realm = @realm AND name = @name", [("realm", realm), ("name", name)], cancellationToken).ConfigureAwait(false) > 0;

    /// <summary>Users of <paramref name="realm"/>, or of every realm when it is null or empty (<c>turnadmin -l</c>).</summary>
    public async Task<IReadOnlyList<UserDatabaseUser>> ListUsersAsync(string? realm, CancellationToken cancellationToken = default) =>
        [.. (await QueryByRealmAsync("SELECT name, realm FROM turnusers_lt", "ORDER BY realm, name", realm, cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseUser(r[0], r[1]))];

    /// <summary>Adds a REST API shared secret (<c>turnadmin -s</c>); adding one twice keeps one.</summary>
    public Task AddSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) =>
        ExecuteAsync("INSERT INTO turn_secret (realm, value) VALUES (@realm, @value) ON CONFLICT (realm, value) DO NOTHING", [("realm", realm), ("value", secret)], cancellationToken);

    /// <summary>Secrets of <paramref name="realm"/>, or of every realm when it is null or empty (<c>turnadmin -S</c>).</summary>
    public async Task<IReadOnlyList<UserDatabaseSecret>> ListSecretsAsync(string? realm, CancellationToken cancellationToken = default) =>
        [.. (await QueryByRealmAsync("SELECT value, realm FROM turn_secret", "ORDER BY realm, value", realm, cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseSecret(r[0], r[1]))];

    /// <summary>Deletes one secret of <paramref name="realm"/> (<c>turnadmin -X</c>); returns how many rows went.</summary>
    public Task<int> DeleteSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) =>
        ExecuteAsync("DELETE FROM turn_secret WHERE realm = @realm AND value = @value", [("realm", realm), ("value", secret)], cancellationToken);

    /// <summary>Deletes every secret of <paramref name="realm"/> (<c>turnadmin --delete-all-secrets</c>).</summary>
    public Task<int> DeleteAllSecretsAsync(string realm, CancellationToken cancellationToken = default) =>
        ExecuteAsync("DELETE FROM turn_secret WHERE realm = @realm", [("realm", realm)], cancellationToken);

    /// <summary>Sets a realm option (<c>turnadmin -g</c>); a value of 0 removes it, as in coTURN.</summary>
    public Task SetRealmOptionAsync(string realm, string option, int value, CancellationToken cancellationToken = default) => value == 0
        ? ExecuteAsync("DELETE FROM turn_realm_option WHERE realm = @realm AND opt = @opt", [("realm", realm), ("opt", option)], cancellationToken)
        : ExecuteAsync(
            "INSERT INTO turn_realm_option (realm, opt, value) VALUES (@realm, @opt, @value) ON CONFLICT (realm, opt) DO UPDATE SET value = excluded.value",
            [("realm", realm), ("opt", option), ("value", value.ToString(CultureInfo.InvariantCulture))],
            cancellationToken);

    /// <summary>Realm options of <paramref name="realm"/>, or of every realm (<c>turnadmin -G</c>).</summary>
    public async Task<IReadOnlyList<UserDatabaseRealmOption>> ListRealmOptionsAsync(string? realm, CancellationToken cancellationToken = default) =>
        [.. (await QueryByRealmAsync("SELECT realm, opt, value FROM turn_realm_option", "ORDER BY realm, opt", realm, cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseRealmOption(r[0], r[1], r[2]))];

    /// <summary>Reads a hmackey column value: 32 hex digits, possibly padded with blanks by a <c>char(128)</c> column.</summary>
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

    private async Task<List<IPAddressRange>> RangesAsync(DbConnection connection, string table, string realm, List<string> problems, CancellationToken cancellationToken)
    {
        // A range stored with an empty realm applies to every realm, as in coTURN.
        var ranges = new List<IPAddressRange>();
        foreach (string[] row in await QueryAsync(connection, $"SELECT ip_range FROM {table} WHERE realm = @realm OR realm = '' OR realm IS NULL", [("realm", realm)], cancellationToken).ConfigureAwait(false))
        {
            if (IPAddressRange.TryParse(row[0].Trim(), out IPAddressRange range))
            {
                ranges.Add(range);
            }
            else
            {
                problems.Add($"{table}: '{row[0]}' is not an IP address or range; ignored");
            }
        }

        return ranges;
    }

    private async Task<List<string[]>> QueryByRealmAsync(string select, string orderBy, string? realm, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return string.IsNullOrEmpty(realm)
            ? await QueryAsync(connection, select + " " + orderBy, [], cancellationToken).ConfigureAwait(false)
            : await QueryAsync(connection, select + " WHERE realm = @realm " + orderBy, [("realm", realm)], cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> ExecuteAsync(string sql, (string Name, string Value)[] parameters, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using DbCommand command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<List<string[]>> QueryAsync(DbConnection connection, string sql, (string Name, string Value)[] parameters, CancellationToken cancellationToken)
    {
        await using DbCommand command = Command(connection, sql, parameters);
        await using DbDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<string[]>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new string[reader.FieldCount];
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? string.Empty : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture)!.TrimEnd();
            }

            rows.Add(row);
        }

        return rows;
    }

    private static DbCommand Command(DbConnection connection, string sql, (string Name, string Value)[] parameters)
    {
        DbCommand command = connection.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, string value) in parameters)
        {
            DbParameter parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        DbConnection connection = Kind == UserDatabaseKind.Sqlite ? new SqliteConnection(_connectionString) : new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (Kind == UserDatabaseKind.Sqlite && !_schemaChecked)
            {
                // coTURN creates the tables of a new SQLite turndb; so do we, so turnadmin and the server can start on an empty file.
                foreach (string statement in SqliteSchema)
                {
                    await using DbCommand create = Command(connection, statement, []);
                    await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                _schemaChecked = true;
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
