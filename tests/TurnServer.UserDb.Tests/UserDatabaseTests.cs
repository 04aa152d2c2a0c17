using System.Globalization;
using System.Net;
using TurnServer.Core.Peers;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.UserDb.Tests;

/// <summary>The same behaviour from every engine: what turnadmin writes, the server reads.</summary>
public abstract class UserDatabaseContract
{
    protected const string Realm = "example.org";

    protected abstract TurnUserDatabase Database { get; }

    /// <summary>Stores a peer range directly, as an operator or coTURN would have (<paramref name="realm"/> empty: every realm).</summary>
    protected abstract Task AddPeerRangeAsync(bool allowed, string realm, string range);

    /// <summary>Stores a user's key text directly, unchecked.</summary>
    protected abstract Task AddStoredUserKeyAsync(string realm, string name, string storedKey);

    /// <summary>Stores an RFC 7635 key directly, as coTURN's turnadmin or test scripts do.</summary>
    protected abstract Task AddOAuthKeyAsync(string kid, string ikm, long timestamp, long lifetime, string algorithm, string realm);

    [Fact]
    public async Task Users_added_listed_and_deleted_are_what_the_server_loads()
    {
        byte[] aliceKey = MessageIntegrity.ComputeLongTermKey("alice", Realm, "secret");
        await Database.SetUserKeyAsync(Realm, "alice", aliceKey);
        await Database.SetUserKeyAsync(Realm, "bob", MessageIntegrity.ComputeLongTermKey("bob", Realm, "old"));
        await Database.SetUserKeyAsync(Realm, "bob", MessageIntegrity.ComputeLongTermKey("bob", Realm, "new")); // replaces
        await Database.SetUserKeyAsync("other.org", "carol", MessageIntegrity.ComputeLongTermKey("carol", "other.org", "x"));

        Assert.Equal([new("alice", Realm), new("bob", Realm), new("carol", "other.org")], await Database.ListUsersAsync(null));
        Assert.Equal([new("alice", Realm), new("bob", Realm)], await Database.ListUsersAsync(Realm));
        UserDatabaseSnapshot snapshot = await Database.LoadAsync(Realm);
        Assert.Equal(aliceKey, snapshot.Keys["alice"]);
        Assert.Equal(MessageIntegrity.ComputeLongTermKey("bob", Realm, "new"), snapshot.Keys["bob"]);
        Assert.False(snapshot.Keys.ContainsKey("carol")); // another realm's user

        Assert.True(await Database.DeleteUserAsync(Realm, "bob"));
        Assert.False(await Database.DeleteUserAsync(Realm, "bob"));
        Assert.Equal(["alice"], (await Database.LoadAsync(Realm)).Keys.Keys);
    }

    [Fact]
    public async Task Admin_users_are_set_found_listed_and_deleted()
    {
        string stored = AdminPassword.Encrypt("pw");
        await Database.SetAdminUserAsync("north", "north.gov", "old");
        await Database.SetAdminUserAsync("north", "", stored); // replaces, and now a superuser
        await Database.SetAdminUserAsync("east", Realm, "plain");

        Assert.Equal([new("east", Realm, "plain"), new("north", "", stored)], await Database.ListAdminUsersAsync());
        Assert.Equal(new UserDatabaseAdmin("north", "", stored), await Database.FindAdminUserAsync("north"));
        Assert.Null(await Database.FindAdminUserAsync("nobody"));

        Assert.True(await Database.DeleteAdminUserAsync("north"));
        Assert.False(await Database.DeleteAdminUserAsync("north"));
        Assert.Equal([new("east", Realm, "plain")], await Database.ListAdminUsersAsync());
    }

    [Fact]
    public async Task Secrets_peer_lists_and_realm_options_are_read_for_the_realm()
    {
        await Database.AddSecretAsync(Realm, "north");
        await Database.AddSecretAsync(Realm, "south");
        await Database.AddSecretAsync(Realm, "south");
        await Database.AddSecretAsync("other.org", "west");
        await Database.SetRealmOptionAsync(Realm, "user-quota", 3);
        await Database.SetRealmOptionAsync(Realm, "total-quota", 7);
        await Database.SetRealmOptionAsync(Realm, "max-bps", 250_000);
        await AddPeerRangeAsync(true, Realm, "10.0.0.5");
        await AddPeerRangeAsync(true, "", "10.0.1.0-10.0.1.255");
        await AddPeerRangeAsync(false, Realm, "198.51.100.0-198.51.100.255");
        await AddPeerRangeAsync(false, "other.org", "203.0.113.1");

        UserDatabaseSnapshot snapshot = await Database.LoadAsync(Realm);

        Assert.Equal(["north", "south"], snapshot.Secrets);
        Assert.Equal((3, 7, 250_000), (snapshot.UserQuota, snapshot.TotalQuota, snapshot.MaxBps));
        var policy = new PeerAddressPolicy(false, true, snapshot.AllowedPeers, snapshot.DeniedPeers);
        Assert.True(policy.IsAllowed(IPAddress.Parse("10.0.1.9")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("198.51.100.9")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("203.0.113.1"))); // denied for another realm only
        Assert.Empty(snapshot.Problems);

        Assert.Equal([new("north", Realm), new("south", Realm), new("west", "other.org")], await Database.ListSecretsAsync(null));
        Assert.Equal(1, await Database.DeleteSecretAsync(Realm, "north"));
        Assert.Equal(["south"], (await Database.LoadAsync(Realm)).Secrets);
        Assert.Equal(1, await Database.DeleteAllSecretsAsync(Realm));
        await Database.SetRealmOptionAsync(Realm, "user-quota", 0); // 0 removes, as in coTURN
        snapshot = await Database.LoadAsync(Realm);
        Assert.Empty(snapshot.Secrets);
        Assert.Equal((null, 7), (snapshot.UserQuota, snapshot.TotalQuota));
        Assert.Equal([new(Realm, "max-bps", "250000"), new(Realm, "total-quota", "7")], await Database.ListRealmOptionsAsync(Realm));
    }

    [Fact]
    public async Task Unusable_rows_are_skipped_and_named()
    {
        await AddStoredUserKeyAsync(Realm, "mallory", "not-hex");
        await AddStoredUserKeyAsync(Realm, "sha256", new string('a', 64));
        await AddPeerRangeAsync(false, Realm, "ten.zero");
        await Database.SetUserKeyAsync(Realm, "alice", MessageIntegrity.ComputeLongTermKey("alice", Realm, "secret"));

        UserDatabaseSnapshot snapshot = await Database.LoadAsync(Realm);

        Assert.Equal(["alice"], snapshot.Keys.Keys);
        Assert.Equal(3, snapshot.Problems.Count);
        Assert.Contains(snapshot.Problems, p => p.Contains("'mallory'", StringComparison.Ordinal));
        Assert.Contains(snapshot.Problems, p => p.Contains("'ten.zero'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Oauth_keys_are_read_by_kid_whatever_their_realm_and_unusable_ones_are_named()
    {
        // ikm_key values as coTURN's own test keys write them (base64 of 32 and 17 bytes).
        await AddOAuthKeyAsync("north", "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEK", 0, 0, "A256GCM", "crinna.org");
        await AddOAuthKeyAsync("union", "MTIzNDU2Nzg5MDEyMzQ1Ngo=", 1700000000, 3600, "A128GCM", "");
        await AddOAuthKeyAsync("short", "MTIzNDU2Nzg5MDEyMzQ1Ngo=", 0, 0, "A256GCM", "");
        await AddOAuthKeyAsync("legacy", "MTIzNDU2Nzg5MDEyMzQ1Ngo=", 0, 0, "HS256", "");

        UserDatabaseSnapshot snapshot = await Database.LoadAsync(Realm, withOAuthKeys: true);

        Assert.Equal(["north", "union"], snapshot.OAuthKeys.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("01234567890123456789012345678901"u8.ToArray(), snapshot.OAuthKeys["north"].AsRsKey);
        Assert.Equal("1234567890123456"u8.ToArray(), snapshot.OAuthKeys["union"].AsRsKey);
        Assert.Equal((1700000000L, 3600L), (snapshot.OAuthKeys["union"].Timestamp, snapshot.OAuthKeys["union"].Lifetime));
        Assert.Contains(snapshot.Problems, p => p.Contains("kid 'short'", StringComparison.Ordinal));
        Assert.Contains(snapshot.Problems, p => p.Contains("kid 'legacy'", StringComparison.Ordinal) && p.Contains("HS256", StringComparison.Ordinal));
    }

    /// <summary>Regression: the SQL engines trimmed every value, so the REST secret 'abc ' was used as 'abc' and no credential made with it matched.</summary>
    [Fact]
    public async Task Secrets_keep_their_trailing_blanks()
    {
        await Database.AddSecretAsync(Realm, "abc ");

        Assert.Equal(["abc "], (await Database.LoadAsync(Realm)).Secrets);
        Assert.Equal([new("abc ", Realm)], await Database.ListSecretsAsync(Realm));
    }

    [Fact]
    public async Task Oauth_keys_are_not_read_without_the_oauth_option_as_in_coturn()
    {
        await AddOAuthKeyAsync("legacy", "MTIzNDU2Nzg5MDEyMzQ1Ngo=", 0, 0, "HS256", "");

        UserDatabaseSnapshot snapshot = await Database.LoadAsync(Realm);

        Assert.Empty(snapshot.OAuthKeys);
        Assert.Empty(snapshot.Problems); // the unusable key was not even looked at
    }
}

/// <summary>The contract for the SQL engines, whose rows the tests write with SQL.</summary>
public abstract class SqlUserDatabaseContract : UserDatabaseContract
{
    /// <summary>Runs SQL against the database directly, as an operator or coTURN would have written rows.</summary>
    protected abstract Task SqlAsync(string sql);

    protected override Task AddPeerRangeAsync(bool allowed, string realm, string range) =>
        SqlAsync($"INSERT INTO {(allowed ? "allowed" : "denied")}_peer_ip (realm, ip_range) VALUES ('{realm}', '{range}')");

    protected override Task AddStoredUserKeyAsync(string realm, string name, string storedKey) =>
        SqlAsync($"INSERT INTO turnusers_lt (realm, name, hmackey) VALUES ('{realm}', '{name}', '{storedKey}')");

    protected override Task AddOAuthKeyAsync(string kid, string ikm, long timestamp, long lifetime, string algorithm, string realm) =>
        SqlAsync($"INSERT INTO oauth_key (kid, ikm_key, timestamp, lifetime, as_rs_alg, realm) VALUES ('{kid}', '{ikm}', {timestamp}, {lifetime}, '{algorithm}', '{realm}')");
}

public sealed class SqliteUserDatabaseTests : SqlUserDatabaseContract, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-db-").FullName;

    public SqliteUserDatabaseTests() => Database = TurnUserDatabase.Sqlite(FilePath);

    protected override TurnUserDatabase Database { get; }

    private string FilePath => Path.Combine(_directory, "turndb");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_turndb_made_by_debians_turnadmin_is_read_unchanged()
    {
        string file = Path.Combine(_directory, "coturn-made.db");
        await DebianTurnadmin.RunAsync("-a", "-b", file, "-u", "alice", "-r", "example.org", "-p", "secret");
        await DebianTurnadmin.RunAsync("-s", "rest-secret", "-b", file, "-r", "example.org");
        await DebianTurnadmin.RunAsync("-g", "-b", file, "-r", "example.org", "--user-quota", "4");

        UserDatabaseSnapshot snapshot = await TurnUserDatabase.Sqlite(file).LoadAsync("example.org");

        Assert.Equal(MessageIntegrity.ComputeLongTermKey("alice", "example.org", "secret"), snapshot.Keys["alice"]);
        Assert.Equal(["rest-secret"], snapshot.Secrets);
        Assert.Equal(4, snapshot.UserQuota);
    }

    [Fact]
    public async Task Debians_turnadmin_lists_what_we_wrote_and_prints_the_same_key()
    {
        await Database.SetUserKeyAsync("example.org", "zoe", MessageIntegrity.ComputeLongTermKey("zoe", "example.org", "pw"));
        await Database.AddSecretAsync("example.org", "shared");

        Assert.Equal("zoe[example.org]", await DebianTurnadmin.RunAsync("-l", "-b", FilePath));
        Assert.Equal("shared[example.org]", await DebianTurnadmin.RunAsync("-S", "-b", FilePath));
        string coturnKey = await DebianTurnadmin.RunAsync("-k", "-u", "zoe", "-r", "example.org", "-p", "pw");
        Assert.Equal(coturnKey, "0x" + Convert.ToHexStringLower((await Database.LoadAsync("example.org")).Keys["zoe"]));
    }

    /// <summary>
    /// Regression: a read-only turndb without some of coTURN's tables failed every read, as creating them failed ("attempt to
    /// write a readonly database"); coTURN ignores that and reads what is there.
    /// </summary>
    [Fact]
    public async Task A_read_only_turndb_missing_optional_tables_still_serves_its_users_and_secrets()
    {
        await Database.SetUserKeyAsync(Realm, "alice", MessageIntegrity.ComputeLongTermKey("alice", Realm, "secret"));
        await Database.AddSecretAsync(Realm, "rest");
        await SqlAsync("DROP TABLE turn_realm_option");
        await SqlAsync("DROP TABLE oauth_key");

        // As a file the server's user may only read: the tests run as root, which may write any file.
        using TurnUserDatabase readOnly = TurnUserDatabase.Sqlite("file:" + FilePath + "?mode=ro");
        UserDatabaseSnapshot snapshot = await readOnly.LoadAsync(Realm, withOAuthKeys: true);

        Assert.Equal(["alice"], snapshot.Keys.Keys);
        Assert.Equal(["rest"], snapshot.Secrets);
        Assert.Equal(
            [
                "the missing tables cannot be created: SQLite Error 8: 'attempt to write a readonly database'.",
                "table 'turn_realm_option' does not exist; read as empty",
                "table 'oauth_key' does not exist; read as empty",
            ],
            snapshot.Problems);
    }

    protected override async Task SqlAsync(string sql)
    {
        await Database.ListUsersAsync(null); // creates the schema on first use
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + FilePath);
        await connection.OpenAsync();
        using Microsoft.Data.Sqlite.SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>One throwaway database server for a test class, started before its first test and ended after its last.</summary>
public abstract class DatabaseServerFixture<TServer> : IAsyncLifetime
    where TServer : IAsyncDisposable
{
    public TServer Server { get; private set; } = default!;

    public async Task InitializeAsync() => Server = await StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    protected abstract Task<TServer> StartAsync();
}

/// <summary>One PostgreSQL server for the class; each test gets fresh tables.</summary>
public sealed class PostgresFixture : DatabaseServerFixture<PostgresServer>
{
    protected override Task<PostgresServer> StartAsync() => PostgresServer.StartAsync();
}

public sealed class PostgresUserDatabaseTests : SqlUserDatabaseContract, IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private readonly PostgresFixture _fixture;

    public PostgresUserDatabaseTests(PostgresFixture fixture)
    {
        _fixture = fixture;
        Database = TurnUserDatabase.PostgreSql(fixture.Server.ConnInfo);
    }

    protected override TurnUserDatabase Database { get; }

    public Task InitializeAsync() => SqlAsync("TRUNCATE turnusers_lt, turn_secret, allowed_peer_ip, denied_peer_ip, turn_realm_option, oauth_key, admin_user");

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Debians_turnadmin_writes_users_and_secrets_into_postgresql_that_we_read()
    {
        await DebianTurnadmin.RunAsync("-a", "-e", _fixture.Server.ConnInfo, "-u", "dave", "-r", "example.org", "-p", "pw");
        await DebianTurnadmin.RunAsync("-s", "pg-secret", "-e", _fixture.Server.ConnInfo, "-r", "example.org");
        await DebianTurnadmin.RunAsync("-A", "-e", _fixture.Server.ConnInfo, "-u", "boss", "-r", "example.org", "-p", "bosspw");

        UserDatabaseSnapshot snapshot = await Database.LoadAsync("example.org");
        UserDatabaseAdmin boss = (await Database.FindAdminUserAsync("boss"))!;
        Assert.Equal("example.org", boss.Realm);
        Assert.True(AdminPassword.Matches("bosspw", boss.Password));

        Assert.Equal(MessageIntegrity.ComputeLongTermKey("dave", "example.org", "pw"), snapshot.Keys["dave"]);
        Assert.Equal(["pg-secret"], snapshot.Secrets);
        Assert.Equal("dave[example.org]", await DebianTurnadmin.RunAsync("-l", "-e", _fixture.Server.ConnInfo));
    }

    /// <summary>
    /// Regression: one query read every table, so a database with only turnusers_lt and turn_secret (coTURN authenticates
    /// from it) authenticated nobody.
    /// </summary>
    [Fact]
    public async Task A_database_with_only_the_user_and_secret_tables_still_serves_them()
    {
        await SqlAsync("CREATE DATABASE partial");
        string conninfo = _fixture.Server.ConnInfo.Replace("dbname=coturn", "dbname=partial", StringComparison.Ordinal);
        await using (var connection = new Npgsql.NpgsqlConnection(PostgresConnectionString.ToNpgsql(conninfo).ConnectionString))
        {
            await connection.OpenAsync();
            await using Npgsql.NpgsqlCommand create = connection.CreateCommand();
            create.CommandText = "CREATE TABLE turnusers_lt (realm varchar(127) default '', name varchar(512), hmackey char(128), PRIMARY KEY (realm,name));" +
                "CREATE TABLE turn_secret (realm varchar(127) default '', value varchar(256), primary key (realm,value))";
            await create.ExecuteNonQueryAsync();
        }

        using TurnUserDatabase partial = TurnUserDatabase.PostgreSql(conninfo);
        await partial.SetUserKeyAsync(Realm, "alice", MessageIntegrity.ComputeLongTermKey("alice", Realm, "secret"));
        await partial.AddSecretAsync(Realm, "rest");

        UserDatabaseSnapshot snapshot = await partial.LoadAsync(Realm);
        UserDatabaseSnapshot withOAuth = await partial.LoadAsync(Realm, withOAuthKeys: true);

        Assert.Equal(MessageIntegrity.ComputeLongTermKey("alice", Realm, "secret"), snapshot.Keys["alice"]);
        Assert.Equal(["rest"], snapshot.Secrets);
        Assert.Equal(
            ["table 'allowed_peer_ip' does not exist; read as empty", "table 'denied_peer_ip' does not exist; read as empty", "table 'turn_realm_option' does not exist; read as empty"],
            snapshot.Problems);
        Assert.Equal([.. snapshot.Problems, "table 'oauth_key' does not exist; read as empty"], withOAuth.Problems);
    }

    [Fact]
    public async Task An_unreachable_server_fails_with_a_database_error_naming_no_password()
    {
        TurnUserDatabase down = TurnUserDatabase.PostgreSql("host=127.0.0.1 port=1 dbname=coturn user=turn password=hunter2 connect_timeout=2");
        Assert.DoesNotContain("hunter2", down.Description, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => down.LoadAsync("example.org"));
    }

    protected override Task SqlAsync(string sql) => _fixture.Server.PsqlAsync("-c", sql);
}

/// <summary>One Redis server for the class; each test starts on an empty database.</summary>
public sealed class RedisFixture : DatabaseServerFixture<RedisServer>
{
    protected override Task<RedisServer> StartAsync() => RedisServer.StartAsync();
}

public sealed class RedisUserDatabaseTests : UserDatabaseContract, IClassFixture<RedisFixture>, IAsyncLifetime
{
    private readonly RedisFixture _fixture;

    public RedisUserDatabaseTests(RedisFixture fixture)
    {
        _fixture = fixture;
        Database = TurnUserDatabase.Redis(fixture.Server.ConnInfo);
    }

    protected override TurnUserDatabase Database { get; }

    public Task InitializeAsync() => _fixture.Server.CliAsync("FLUSHDB");

    public Task DisposeAsync()
    {
        Database.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Debians_turnadmin_writes_users_secrets_and_options_into_redis_that_we_read_and_lists_ours()
    {
        string conninfo = _fixture.Server.ConnInfo;
        await DebianTurnadmin.RunAsync("-a", "-N", conninfo, "-u", "dave", "-r", "example.org", "-p", "pw");
        await DebianTurnadmin.RunAsync("-s", "redis-secret", "-N", conninfo, "-r", "example.org");
        await DebianTurnadmin.RunAsync("-g", "-N", conninfo, "-r", "example.org", "--user-quota", "4");
        await Database.SetUserKeyAsync("example.org", "zoe", MessageIntegrity.ComputeLongTermKey("zoe", "example.org", "zz"));
        await DebianTurnadmin.RunAsync("-A", "-N", conninfo, "-u", "boss", "-p", "bosspw");
        await Database.SetAdminUserAsync("north", "example.org", AdminPassword.Encrypt("npw"));

        UserDatabaseSnapshot snapshot = await Database.LoadAsync("example.org");

        Assert.Equal(MessageIntegrity.ComputeLongTermKey("dave", "example.org", "pw"), snapshot.Keys["dave"]);
        Assert.Equal(["redis-secret"], snapshot.Secrets);
        Assert.Equal(4, snapshot.UserQuota);
        Assert.Equal(["dave[example.org]", "zoe[example.org]"], (await DebianTurnadmin.RunAsync("-l", "-N", conninfo)).Split('\n').Order(StringComparer.Ordinal));
        Assert.True(AdminPassword.Matches("bosspw", (await Database.FindAdminUserAsync("boss"))!.Password));
        Assert.Equal(["boss", "north[example.org]"], (await DebianTurnadmin.RunAsync("-L", "-N", conninfo)).Split('\n').Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_database_of_coturns_own_redis_setup_script_is_read_as_coturn_reads_it()
    {
        // /usr/share/coturn/testredisdbsetup.sh feeds redis-cli a here-document; its AUTH and SELECT are for coTURN's test server.
        string script = await File.ReadAllTextAsync("/usr/share/coturn/testredisdbsetup.sh");
        int start = script.IndexOf("<<!", StringComparison.Ordinal) + 3;
        string commands = string.Join('\n', script[start..script.LastIndexOf("\n!", StringComparison.Ordinal)].Split('\n')
            .Where(l => !l.StartsWith("AUTH", StringComparison.Ordinal) && !l.StartsWith("SELECT", StringComparison.Ordinal) && !l.StartsWith("save", StringComparison.Ordinal))
            .Select(l => l.Replace("\\$", "$", StringComparison.Ordinal)));
        await _fixture.Server.CliScriptAsync(commands);

        UserDatabaseSnapshot north = await Database.LoadAsync("north.gov", withOAuthKeys: true);

        Assert.Equal(["gorst", "ninefingers"], north.Keys.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(MessageIntegrity.ComputeLongTermKey("gorst", "north.gov", "hero"), north.Keys["gorst"]);
        Assert.Equal(MessageIntegrity.ComputeLongTermKey("ninefingers", "north.gov", "youhavetoberealistic"), north.Keys["ninefingers"]);
        Assert.Equal(["bloody9", "logen"], north.Secrets);
        Assert.Equal((10000, 12000, 500000), (north.UserQuota, north.TotalQuota, north.MaxBps));
        var policy = new PeerAddressPolicy(false, true, north.AllowedPeers, north.DeniedPeers);
        Assert.False(policy.IsAllowed(IPAddress.Parse("172.17.14.1"))); // inside 172.17.13.133-172.17.14.56
        Assert.True(policy.IsAllowed(IPAddress.Parse("172.17.13.200"))); // allowed explicitly
        Assert.Equal(["north", "oldempire", "union"], north.OAuthKeys.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("1234567890123456"u8.ToArray(), north.OAuthKeys["union"].AsRsKey);
        Assert.Empty(north.Problems);
        Assert.Equal(
            [new("stranger-come-knocking", "crinna.org"), new("whirrun", "crinna.org"), new("gorst", "north.gov"), new("ninefingers", "north.gov")],
            await Database.ListUsersAsync(null));
        IReadOnlyList<UserDatabaseAdmin> admins = await Database.ListAdminUsersAsync();
        Assert.Equal([("bayaz", ""), ("skarling", "north.gov")], admins.Select(a => (a.Name, a.Realm)));
        Assert.True(AdminPassword.Matches("magi", admins[0].Password) && AdminPassword.Matches("hoodless", admins[1].Password));
    }

    [Fact]
    public async Task An_unreachable_server_fails_with_an_io_error_naming_no_password()
    {
        using TurnUserDatabase down = TurnUserDatabase.Redis("ip=127.0.0.1 port=1 dbname=0 password=hunter2 connect_timeout=2");
        Assert.DoesNotContain("hunter2", down.Description, StringComparison.Ordinal);
        IOException error = await Assert.ThrowsAsync<IOException>(() => down.LoadAsync("example.org"));
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ip=127.0.0.1 port=http")]
    [InlineData("ip=127.0.0.1 dbname=two")]
    [InlineData("ip=127.0.0.1 sslmode=require")]
    [InlineData("ip=127.0.0.1 password=two words")]
    public void A_connection_string_coturn_would_refuse_is_refused_without_echoing_it(string conninfo)
    {
        FormatException error = Assert.Throws<FormatException>(() => TurnUserDatabase.Redis(conninfo));
        Assert.DoesNotContain("words", error.Message, StringComparison.Ordinal);
    }

    protected override Task AddPeerRangeAsync(bool allowed, string realm, string range) =>
        _fixture.Server.CliAsync("SADD", $"turn/realm/{realm}/{(allowed ? "allowed" : "denied")}-peer-ip", range);

    protected override Task AddStoredUserKeyAsync(string realm, string name, string storedKey) =>
        _fixture.Server.CliAsync("SET", $"turn/realm/{realm}/user/{name}/key", storedKey);

    protected override Task AddOAuthKeyAsync(string kid, string ikm, long timestamp, long lifetime, string algorithm, string realm) =>
        _fixture.Server.CliAsync("HSET", "turn/oauth/kid/" + kid, "ikm_key", ikm, "timestamp", timestamp.ToString(CultureInfo.InvariantCulture), "lifetime", lifetime.ToString(CultureInfo.InvariantCulture), "as_rs_alg", algorithm, "realm", realm);
}
