using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace TurnServer.UserDb;

/// <summary>
/// The turndb in SQLite or PostgreSQL, in coTURN's schema unchanged (schema.sql: <c>turnusers_lt</c>,
/// <c>turn_secret</c>, <c>allowed_peer_ip</c>, <c>denied_peer_ip</c>, <c>turn_realm_option</c>,
/// <c>turn_origin_to_realm</c>, <c>oauth_key</c>, <c>admin_user</c>); <c>turnusers_lt.hmackey</c> holds the keys. Each
/// call opens its own connection (pooled by the driver).
/// </summary>
internal sealed class SqlUserDatabase : TurnUserDatabase
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
    private volatile string? _schemaProblem;

    private SqlUserDatabase(UserDatabaseKind kind, string connectionString, string description)
        : base(kind, description) => _connectionString = connectionString;

    /// <summary>See <see cref="TurnUserDatabase.Sqlite"/>.</summary>
    public static SqlUserDatabase CreateSqlite(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Interlocked.Exchange(ref s_sqliteInitialized, 1) == 0)
        {
            SQLitePCL.Batteries_V2.Init();
        }

        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, DefaultTimeout = 5 };
        return new SqlUserDatabase(UserDatabaseKind.Sqlite, builder.ToString(), "SQLite " + path);
    }

    /// <summary>See <see cref="TurnUserDatabase.PostgreSql"/>.</summary>
    /// <exception cref="FormatException">The connection string cannot be read.</exception>
    public static SqlUserDatabase CreatePostgreSql(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder = PostgresConnectionString.ToNpgsql(connectionString);
        return new SqlUserDatabase(UserDatabaseKind.PostgreSql, builder.ConnectionString, $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}");
    }

    /// <inheritdoc />
    public override async Task<UserDatabaseSnapshot> LoadAsync(string realm, bool withOAuthKeys = false, CancellationToken cancellationToken = default)
    {
        var snapshot = new UserDatabaseSnapshotBuilder();
        await using DbConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        if (_schemaProblem is { } problem)
        {
            snapshot.AddProblem(problem);
        }

        (string Name, string Value)[] byRealm = [("realm", realm)];

        // coTURN queries each table on its own, so a database made without the optional tables still authenticates:
        // each is read here on its own too, and a missing one reads as empty.
        foreach (string[] row in await TableAsync(connection, snapshot, "turnusers_lt", "SELECT name, hmackey FROM turnusers_lt WHERE realm = @realm", byRealm, cancellationToken).ConfigureAwait(false))
        {
            snapshot.AddUserKey("turnusers_lt", row[0], row[1]);
        }

        foreach (string[] row in await TableAsync(connection, snapshot, "turn_secret", "SELECT value FROM turn_secret WHERE realm = @realm ORDER BY value", byRealm, cancellationToken).ConfigureAwait(false))
        {
            snapshot.AddSecret(row[0]);
        }

        // A range stored with an empty realm applies to every realm, as in coTURN.
        foreach ((string table, bool allowed) in new[] { ("allowed_peer_ip", true), ("denied_peer_ip", false) })
        {
            foreach (string[] row in await TableAsync(connection, snapshot, table, $"SELECT ip_range FROM {table} WHERE realm = @realm OR realm = '' OR realm IS NULL", byRealm, cancellationToken).ConfigureAwait(false))
            {
                snapshot.AddPeerRange(allowed, table, row[0]);
            }
        }

        foreach (string[] row in await TableAsync(connection, snapshot, "turn_realm_option", "SELECT opt, value FROM turn_realm_option WHERE realm = @realm", byRealm, cancellationToken).ConfigureAwait(false))
        {
            snapshot.AddRealmOption("turn_realm_option", row[0], row[1]);
        }

        if (withOAuthKeys)
        {
            foreach (string[] row in await TableAsync(connection, snapshot, "oauth_key", "SELECT kid, ikm_key, timestamp, lifetime, as_rs_alg FROM oauth_key", [], cancellationToken).ConfigureAwait(false))
            {
                snapshot.AddOAuthKey("oauth_key", row[0], row[1], row[2], row[3], row[4]);
            }
        }

        return snapshot.Build();
    }

    /// <inheritdoc />
    public override Task SetUserKeyAsync(string realm, string name, byte[] key, CancellationToken cancellationToken = default) =>
        ExecuteAsync(
            "INSERT INTO turnusers_lt (realm, name, hmackey) VALUES (@realm, @name, @key) ON CONFLICT (realm, name) DO UPDATE SET hmackey = excluded.hmackey",
            [("realm", realm), ("name", name), ("key", Convert.ToHexStringLower(key))],
            cancellationToken);

    /// <inheritdoc />
    public override async Task<bool> DeleteUserAsync(string realm, string name, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("DELETE FROM turnusers_lt WHERE realm = @realm AND name = @name", [("realm", realm), ("name", name)], cancellationToken).ConfigureAwait(false) > 0;

    /// <inheritdoc />
    public override async Task<IReadOnlyList<UserDatabaseUser>> ListUsersAsync(string? realm, CancellationToken cancellationToken = default) =>
        [.. (await QueryByRealmAsync("SELECT name, realm FROM turnusers_lt", "ORDER BY realm, name", realm, cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseUser(r[0], r[1]))];

    /// <inheritdoc />
    public override Task AddSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) =>
        ExecuteAsync("INSERT INTO turn_secret (realm, value) VALUES (@realm, @value) ON CONFLICT (realm, value) DO NOTHING", [("realm", realm), ("value", secret)], cancellationToken);

    /// <inheritdoc />
    public override async Task<IReadOnlyList<UserDatabaseSecret>> ListSecretsAsync(string? realm, CancellationToken cancellationToken = default) =>
        [.. (await QueryByRealmAsync("SELECT value, realm FROM turn_secret", "ORDER BY realm, value", realm, cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseSecret(r[0], r[1]))];

    /// <inheritdoc />
    public override Task<int> DeleteSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) =>
        ExecuteAsync("DELETE FROM turn_secret WHERE realm = @realm AND value = @value", [("realm", realm), ("value", secret)], cancellationToken);

    /// <inheritdoc />
    public override Task<int> DeleteAllSecretsAsync(string realm, CancellationToken cancellationToken = default) =>
        ExecuteAsync("DELETE FROM turn_secret WHERE realm = @realm", [("realm", realm)], cancellationToken);

    /// <inheritdoc />
    public override Task SetRealmOptionAsync(string realm, string option, int value, CancellationToken cancellationToken = default) => value == 0
        ? ExecuteAsync("DELETE FROM turn_realm_option WHERE realm = @realm AND opt = @opt", [("realm", realm), ("opt", option)], cancellationToken)
        : ExecuteAsync(
            "INSERT INTO turn_realm_option (realm, opt, value) VALUES (@realm, @opt, @value) ON CONFLICT (realm, opt) DO UPDATE SET value = excluded.value",
            [("realm", realm), ("opt", option), ("value", value.ToString(CultureInfo.InvariantCulture))],
            cancellationToken);

    /// <inheritdoc />
    public override async Task<IReadOnlyList<UserDatabaseRealmOption>> ListRealmOptionsAsync(string? realm, CancellationToken cancellationToken = default) =>
        [.. (await QueryByRealmAsync("SELECT realm, opt, value FROM turn_realm_option", "ORDER BY realm, opt", realm, cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseRealmOption(r[0], r[1], r[2]))];

    /// <inheritdoc />
    public override Task SetAdminUserAsync(string name, string realm, string password, CancellationToken cancellationToken = default) =>
        ExecuteAsync(
            "INSERT INTO admin_user (name, realm, password) VALUES (@name, @realm, @password) ON CONFLICT (name) DO UPDATE SET realm = excluded.realm, password = excluded.password",
            [("name", name), ("realm", realm), ("password", password)],
            cancellationToken);

    /// <inheritdoc />
    public override async Task<bool> DeleteAdminUserAsync(string name, CancellationToken cancellationToken = default) =>
        await ExecuteAsync("DELETE FROM admin_user WHERE name = @name", [("name", name)], cancellationToken).ConfigureAwait(false) > 0;

    /// <inheritdoc />
    public override async Task<IReadOnlyList<UserDatabaseAdmin>> ListAdminUsersAsync(CancellationToken cancellationToken = default)
    {
        await using DbConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return [.. (await QueryAsync(connection, "SELECT name, realm, password FROM admin_user ORDER BY name", [], cancellationToken).ConfigureAwait(false))
            .Select(r => new UserDatabaseAdmin(r[0], r[1], r[2]))];
    }

    /// <inheritdoc />
    public override async Task<UserDatabaseAdmin?> FindAdminUserAsync(string name, CancellationToken cancellationToken = default)
    {
        await using DbConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        List<string[]> rows = await QueryAsync(connection, "SELECT name, realm, password FROM admin_user WHERE name = @name", [("name", name)], cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : new UserDatabaseAdmin(rows[0][0], rows[0][1], rows[0][2]);
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
                // Values as stored: a secret may end in a blank. The one blank-padded column, char(128) hmackey, is trimmed where keys are parsed.
                row[i] = reader.IsDBNull(i) ? string.Empty : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture)!;
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>The rows of one of <see cref="LoadAsync"/>'s queries; none, and a problem naming <paramref name="table"/>, when the table does not exist.</summary>
    private static async Task<List<string[]>> TableAsync(
        DbConnection connection, UserDatabaseSnapshotBuilder snapshot, string table, string sql, (string Name, string Value)[] parameters, CancellationToken cancellationToken)
    {
        try
        {
            return await QueryAsync(connection, sql, parameters, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PostgresException { SqlState: PostgresErrorCodes.UndefinedTable } || (e is SqliteException && e.Message.Contains("no such table", StringComparison.Ordinal)))
        {
            snapshot.AddProblem($"table '{table}' does not exist; read as empty");
            return [];
        }
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
                await CreateSqliteSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// coTURN creates the tables of a new SQLite turndb; so do we, so turnadmin and the server can start on an empty file. As
    /// in coTURN, a failure (a read-only file missing a table) is no error: the reads that need the table say so, and the
    /// next connection tries again.
    /// </summary>
    private async Task CreateSqliteSchemaAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        string? problem = null;
        foreach (string statement in SqliteSchema)
        {
            try
            {
                await using DbCommand create = Command(connection, statement, []);
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                problem ??= $"the missing tables cannot be created: {e.Message}";
            }
        }

        _schemaProblem = problem;
        _schemaChecked = problem is null;
    }
}
