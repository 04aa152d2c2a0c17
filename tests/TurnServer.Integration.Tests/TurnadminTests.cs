using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.UserDb;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>
/// Our turnadmin's listing and deleting commands (users, secrets, realm options, admin users) on a SQLite turndb,
/// checked against what Debian's turnadmin reads from the same file, and its usage errors (exit 2, naming what was wrong).
/// </summary>
public sealed class TurnadminTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-turnadmin-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Users_secrets_and_realm_options_are_listed_and_deleted_per_realm()
    {
        string db = Path.Combine(_directory, "turndb");
        await Succeeds("-a", "-b", db, "-u", "bob", "-r", "example.org", "-p", "pw1");
        await Succeeds("--add", "--db=" + db, "--user=carol", "--realm=other.org", "--password=pw2");
        Assert.Equal("bob[example.org]\ncarol[other.org]", await Succeeds("-l", "-b", db));
        Assert.Equal("bob[example.org]", await Succeeds("-l", "-b", db, "-r", "example.org"));

        await Succeeds("-s", "s1", "-b", db, "-r", "example.org");
        await Succeeds("--set-secret=s2", "-b", db, "-r", "example.org");
        await Succeeds("-s", "s3", "-b", db, "-r", "other.org");
        Assert.Equal("s1[example.org]\ns2[example.org]", await Succeeds("-S", "-b", db, "-r", "example.org"));
        await Succeeds("-X", "s1", "-b", db, "-r", "example.org");
        Assert.Equal("s2[example.org]\ns3[other.org]", await Succeeds("-S", "-b", db));
        await Succeeds("--delete-all-secrets", "-b", db, "-r", "example.org");
        Assert.Equal("s3[other.org]", await Succeeds("--show-secret", "-b", db));

        await Succeeds("-g", "-b", db, "-r", "example.org", "--user-quota=5", "--total-quota", "10");
        await Succeeds("-g", "-b", db, "-r", "north.gov", "--max-bps=100");
        Assert.Equal("total-quota[example.org]=10\nuser-quota[example.org]=5", await Succeeds("-G", "-b", db, "-r", "example.org"));
        Assert.Equal("total-quota[example.org]=10\nuser-quota[example.org]=5\nmax-bps[north.gov]=100", await Succeeds("-G", "-b", db));
        Assert.Equal(await DebianTurnadmin.RunAsync("-G", "-b", db), await Succeeds("-G", "-b", db));

        // Debian's turnadmin reads the same file the same way.
        Assert.Equal("bob[example.org]\ncarol[other.org]", (await DebianTurnadmin.RunAsync("-l", "-b", db)).Trim());
        Assert.Contains("s3", await DebianTurnadmin.RunAsync("-S", "-b", db, "-r", "other.org"), StringComparison.Ordinal);
        await Succeeds("-d", "-b", db, "-u", "bob", "-r", "example.org");
        Assert.Equal("carol[other.org]", (await DebianTurnadmin.RunAsync("-l", "-b", db)).Trim());
    }

    [Fact]
    public async Task Admin_users_are_added_listed_and_deleted_as_debians_turnadmin_does()
    {
        string db = Path.Combine(_directory, "turndb");
        await Succeeds("-A", "-b", db, "-u", "boss", "-p", "pw1");
        await Succeeds("--add-admin", "--db=" + db, "--user=north", "--realm=north.gov", "--password=pw2");
        await DebianTurnadmin.RunAsync("-A", "-b", db, "-u", "bayaz", "-p", "magi");
        Assert.Equal("bayaz\nboss\nnorth[north.gov]", await Succeeds("-L", "-b", db));
        Assert.Equal("bayaz\nboss\nnorth[north.gov]", (await DebianTurnadmin.RunAsync("-L", "-b", db)).Trim());

        using (TurnUserDatabase turndb = TurnUserDatabase.Sqlite(db))
        {
            // Passwords are stored in the $5$ form, whichever turnadmin stored them.
            UserDatabaseAdmin boss = (await turndb.FindAdminUserAsync("boss"))!;
            UserDatabaseAdmin bayaz = (await turndb.FindAdminUserAsync("bayaz"))!;
            Assert.True(AdminPassword.Matches("pw1", boss.Password) && boss.Password.StartsWith("$5$", StringComparison.Ordinal));
            Assert.True(AdminPassword.Matches("magi", bayaz.Password));
            Assert.False(AdminPassword.Matches("pw2", boss.Password));
            Assert.Equal("north.gov", (await turndb.FindAdminUserAsync("north"))!.Realm);
            Assert.Null(await turndb.FindAdminUserAsync("nobody"));
        }

        await Succeeds("-D", "-b", db, "-u", "north");
        await Succeeds("--delete-admin", "-b", db, "--user=bayaz");
        Assert.Equal("boss", await Succeeds("-L", "-b", db));
        Assert.Equal("boss", (await DebianTurnadmin.RunAsync("-L", "-b", db)).Trim());
    }

    [Theory]
    [InlineData(new[] { "-x", "-r", "r" }, "-x (--key-path) is not supported")]
    [InlineData(new[] { "--frobnicate" }, "unknown option '--frobnicate'")]
    [InlineData(new[] { "-u", "bob" }, "no command given")]
    [InlineData(new[] { "-g", "-r", "r" }, "-g needs -r <realm> and at least one of")]
    public async Task Usage_errors_exit_255_as_coturns_naming_what_was_wrong(string[] args, string message)
    {
        ToolResult result = await Turnadmin.RunAsync([.. args, "-b", Path.Combine(_directory, "turndb")]);
        Assert.Equal(255, result.ExitCode);
        Assert.Contains("ERROR: " + message, result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_directory, "turndb")), "a usage error must not touch the database");
    }

    /// <summary>Regression: -G printed SQL's <c>max-bps=100[north.gov]</c> for every engine; coTURN prints Redis options as <c>realm/option = value</c>.</summary>
    [Fact]
    public async Task Realm_options_in_redis_are_listed_in_coturns_redis_words()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await DebianTurnadmin.RunAsync("-g", "-N", redis.ConnInfo, "-r", "north.gov", "--max-bps", "100", "--user-quota", "3");
        await Succeeds("-g", "-N", redis.ConnInfo, "-r", "south.gov", "--total-quota", "7");

        string[] ours = (await Succeeds("-G", "-N", redis.ConnInfo)).Split('\n');

        Assert.Equal(["north.gov/max-bps = 100", "north.gov/user-quota = 3", "south.gov/total-quota = 7"], ours);
        Assert.Equal(ours, (await DebianTurnadmin.RunAsync("-G", "-N", redis.ConnInfo)).Split('\n').Order(StringComparer.Ordinal)); // in KEYS order
    }

    /// <summary>
    /// Regression: these acted on the realm "" and exited 0; Debian's turnadmin refuses them with its words and exit code 255,
    /// before touching the database.
    /// </summary>
    [Theory]
    [InlineData("-a", "-u", "bob", "-p", "pw")]
    [InlineData("-d", "-u", "bob")]
    [InlineData("-s", "secret")]
    [InlineData("-X", "secret")]
    [InlineData("--delete-all-secrets")]
    [InlineData("-g", "--max-bps", "5")]
    [InlineData("-a", "-u", "bob", "-p", "pw", "-r", "")]
    public async Task Commands_changing_a_realm_without_one_are_refused_as_debians_turnadmin_refuses_them(params string[] args) =>
        await RefusedAsDebiansTurnadminRefusesAsync(args, "The operation cannot be completed: the realm must be set.");

    /// <summary>
    /// Regression: an empty -p (a script's unset variable) made a user, or printed a key, for the password "", and an
    /// empty -u one for the user ""; Debian's turnadmin refuses both, naming the user first, then the password.
    /// </summary>
    [Theory]
    [InlineData("user", "-k", "-r", "r", "-p", "pw")]
    [InlineData("user", "-k", "-u", "", "-r", "r", "-p", "pw")]
    [InlineData("password", "-k", "-u", "bob", "-r", "r")]
    [InlineData("password", "-k", "-u", "bob", "-r", "r", "-p", "")]
    [InlineData("user", "-a", "-r", "r", "-p", "pw")]
    [InlineData("password", "-a", "-u", "bob")]
    [InlineData("password", "-a", "-u", "bob", "-r", "r", "-p", "")]
    [InlineData("user", "-d", "-u", "", "-r", "r")]
    [InlineData("realm", "-d", "-u", "bob")]
    [InlineData("password", "-A", "-u", "boss")]
    [InlineData("user", "-A", "-p", "pw")]
    [InlineData("user", "-D")]
    public async Task A_missing_or_empty_user_or_password_is_refused_as_debians_turnadmin_refuses_it(string missing, params string[] args) =>
        await RefusedAsDebiansTurnadminRefusesAsync(args, $"The operation cannot be completed: the {missing} must be set.");

    private async Task RefusedAsDebiansTurnadminRefusesAsync(string[] args, string words)
    {
        string db = Path.Combine(_directory, "turndb");

        ToolResult ours = await Turnadmin.RunAsync([.. args, "-b", db]);
        ToolResult coturns = await ExternalProcess.RunAsync(DebianTurnadmin.Path, [.. args, "-b", db], TimeSpan.FromSeconds(30));

        Assert.Equal((255, words), (coturns.ExitCode, coturns.Output.Trim()));
        Assert.Equal((coturns.ExitCode, coturns.Output.Trim()), (ours.ExitCode, ours.Output.Trim()));
        Assert.False(File.Exists(db), "a refused command must not touch the database");
    }

    /// <summary>Regression: these crashed turnadmin (exit 134) with Npgsql's ArgumentOutOfRangeException or an OverflowException.</summary>
    [Theory]
    [InlineData("dbname=coturn port=0", "'port' must be a number from 1 to 65535")]
    [InlineData("dbname=coturn port=99999999999", "'port' must be a number from 1 to 65535")]
    [InlineData("dbname=coturn connect_timeout=2000", "'connect_timeout' must be a number from 0 to 1024")]
    public async Task A_psql_connection_string_npgsql_would_refuse_is_a_usage_error(string conninfo, string message)
    {
        ToolResult result = await Turnadmin.RunAsync("-l", "-e", conninfo);

        Assert.Equal(255, result.ExitCode);
        Assert.Contains("ERROR: the database connection string cannot be read: " + message, result.Output, StringComparison.Ordinal);
    }

    /// <summary>Regression: without host= turnadmin crashed (exit 134) with Npgsql's "Host can't be null"; libpq uses PGHOST, else the local socket.</summary>
    [Fact]
    public async Task Without_a_host_turnadmin_tries_the_server_libpq_would()
    {
        string host = Environment.GetEnvironmentVariable("PGHOST") is { Length: > 0 } pghost ? pghost : "/var/run/postgresql";

        ToolResult result = await Turnadmin.RunAsync("-l", "-e", "dbname=coturn port=1 connect_timeout=2");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"ERROR: PostgreSQL {host}:1/coturn: ", result.Output, StringComparison.Ordinal);
    }

    private static async Task<string> Succeeds(params string[] args)
    {
        ToolResult result = await Turnadmin.RunAsync(args);
        Assert.True(result.ExitCode == 0, string.Join(' ', args) + ":\n" + result.Output);
        return result.Output.Trim();
    }
}
