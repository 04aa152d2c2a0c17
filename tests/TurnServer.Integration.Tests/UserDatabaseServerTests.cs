using Microsoft.Extensions.DependencyInjection;
using TurnServer.Core.Auth;
using TurnServer.Hosting.UserDb;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>The server authenticating against coTURN user databases, changed while it runs.</summary>
public sealed class UserDatabaseServerTests : IDisposable
{
    private static readonly TimeSpan RefreshWait = UserDatabaseRefresher.Interval * 3;
    private readonly string _directory = Directory.CreateTempSubdirectory("turnserver-userdb-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_turndb_made_by_debians_turnadmin_authenticates_and_users_added_later_work_without_a_restart()
    {
        string turndb = Path.Combine(_directory, "turndb");
        await DebianTurnadmin.RunAsync("-a", "-b", turndb, "-u", TestServer.User, "-r", TestServer.Realm, "-p", TestServer.Password);
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + TestServer.Realm, "--lt-cred-mech", "--userdb=" + turndb, "--no-stdout-log");

        using (var alice = new StunUdpClient(server.UdpEndPoint))
        {
            await alice.AllocateAsync();
        }

        using var erin = new StunUdpClient(server.UdpEndPoint, "erin", "fresh");
        Assert.Equal(StunErrorCodes.Unauthenticated, await AllocateCodeAsync(erin));

        // Our turnadmin adds her to the same file while the server runs.
        ToolResult added = await Turnadmin.RunAsync("-a", "-b", turndb, "-u", "erin", "-r", TestServer.Realm, "-p", "fresh");
        Assert.Equal(0, added.ExitCode);
        await WaitForRefreshAsync(server);

        Assert.Equal(0, await AllocateCodeAsync(erin));
        Assert.Equal("alice[example.org]\nerin[example.org]", (await DebianTurnadmin.RunAsync("-l", "-b", turndb)).Trim());

        Assert.Equal(0, (await Turnadmin.RunAsync("-d", "-b", turndb, "-u", "erin", "-r", TestServer.Realm)).ExitCode);
        await WaitForRefreshAsync(server);
        using var erinAgain = new StunUdpClient(server.UdpEndPoint, "erin", "fresh");
        Assert.Equal(StunErrorCodes.Unauthenticated, await AllocateCodeAsync(erinAgain));
    }

    [Fact]
    public async Task A_postgresql_turn_secret_serves_rest_credentials_and_outlives_the_database_going_down()
    {
        PostgresServer postgres = await PostgresServer.StartAsync();
        try
        {
            Assert.Equal(0, (await Turnadmin.RunAsync("-s", "pg-secret", "-e", postgres.ConnInfo, "-r", TestServer.Realm)).ExitCode);
            await using TestServer server = await TestServer.StartRawAsync(
                "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + TestServer.Realm, "--use-auth-secret",
                "--psql-userdb=" + postgres.ConnInfo, "--no-stdout-log");
            string user = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) + ":frank";

            using (var frank = new StunUdpClient(server.UdpEndPoint, user, TurnRestCredentials.ComputePassword("pg-secret", user)))
            {
                await frank.AllocateAsync();
            }

            Task failed = server.Host.Services.GetRequiredService<UserDatabaseRefresher>().NextFailureAsync();
            await postgres.DisposeAsync();
            postgres = null!;
            await failed.WaitAsync(RefreshWait); // one read has failed, and the users read before are still served

            using var again = new StunUdpClient(server.UdpEndPoint, user, TurnRestCredentials.ComputePassword("pg-secret", user));
            await again.AllocateAsync();
        }
        finally
        {
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Regression: a psql-userdb without host= ended the server at start (Npgsql's "Host can't be null", exit 134). libpq
    /// would try PGHOST or the local socket; here nothing listens there on port 1, so the server runs without the database's users.
    /// </summary>
    [Fact]
    public async Task A_psql_userdb_without_a_host_that_cannot_be_reached_leaves_the_server_running()
    {
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--realm=" + TestServer.Realm, "--lt-cred-mech",
            "--psql-userdb=dbname=coturn port=1 connect_timeout=2", "--no-stdout-log");
        Task failed = server.Host.Services.GetRequiredService<UserDatabaseRefresher>().NextFailureAsync();

        await failed.WaitAsync(RefreshWait); // still reading every few seconds
        using var alice = new StunUdpClient(server.UdpEndPoint);
        Assert.Equal(StunErrorCodes.Unauthenticated, await AllocateCodeAsync(alice));
    }

    /// <summary>
    /// coTURN's redis-userdb: a user that Debian's turnadmin writes into Redis authenticates uclient, which relays without
    /// loss; a user our turnadmin adds while the server runs works within one refresh; each tool lists what the other wrote.
    /// </summary>
    [Fact]
    public async Task A_redis_userdb_filled_by_debians_turnadmin_authenticates_uclient_and_follows_changes()
    {
        await using RedisServer redis = await RedisServer.StartAsync();
        await DebianTurnadmin.RunAsync("-a", "-N", redis.ConnInfo, "-u", TestServer.User, "-r", TestServer.Realm, "-p", TestServer.Password);
        await DebianTurnadmin.RunAsync("-s", "redis-secret", "-N", redis.ConnInfo, "-r", TestServer.Realm);
        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--min-port=20000", "--max-port=32767", "--realm=" + TestServer.Realm,
            "--lt-cred-mech", "--redis-userdb=" + redis.ConnInfo, "--allow-loopback-peers", "--no-stdout-log");

        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            ["-u", TestServer.User, "-w", TestServer.Password, "-e", "127.0.0.1", "-r", peer.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-n", "50", "-m", "4", "-l", "170", "127.0.0.1"],
            TimeSpan.FromSeconds(60));
        UclientOutput.AssertNoLoss(result, 200);

        using var erin = new StunUdpClient(server.UdpEndPoint, "erin", "fresh");
        Assert.Equal(StunErrorCodes.Unauthenticated, await AllocateCodeAsync(erin));
        Assert.Equal(0, (await Turnadmin.RunAsync("-a", "-N", redis.ConnInfo, "-u", "erin", "-r", TestServer.Realm, "-p", "fresh")).ExitCode);
        await WaitForRefreshAsync(server);
        Assert.Equal(0, await AllocateCodeAsync(erin));

        Assert.Equal(["alice[example.org]", "erin[example.org]"], (await DebianTurnadmin.RunAsync("-l", "-N", redis.ConnInfo)).Split('\n').Order(StringComparer.Ordinal)); // in KEYS order
        Assert.Equal("redis-secret[example.org]", (await Turnadmin.RunAsync("-S", "-N", redis.ConnInfo)).Output.Trim());
    }

    /// <summary>
    /// RFC 7635 through uclient's -J mode: it seals each Allocate's and Refresh's access token with one of three test
    /// keys at random (kid north and oldempire A256GCM, union A128GCM) for the server name the 401 names, and signs
    /// with the MAC key inside. The keys are rows of the turndb's oauth_key table, as coTURN reads them.
    /// </summary>
    [Fact]
    public async Task Uclient_with_oauth_tokens_relays_without_loss_using_keys_from_the_turndb()
    {
        string turndb = Path.Combine(_directory, "turndb");
        await DebianTurnadmin.RunAsync("-a", "-b", turndb, "-u", TestServer.User, "-r", TestServer.Realm, "-p", TestServer.Password);
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + turndb))
        {
            await connection.OpenAsync();
            using Microsoft.Data.Sqlite.SqliteCommand insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO oauth_key (kid, ikm_key, timestamp, lifetime, as_rs_alg, realm) VALUES " +
                "('north', 'MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEK', 0, 0, 'A256GCM', 'crinna.org'), " +
                "('union', 'MTIzNDU2Nzg5MDEyMzQ1Ngo=', 0, 0, 'A128GCM', 'north.gov'), " +
                "('oldempire', 'MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIK', 0, 0, 'A256GCM', '')";
            Assert.Equal(3, await insert.ExecuteNonQueryAsync());
        }

        await using TestServer server = await TestServer.StartRawAsync(
            "-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--min-port=20000", "--max-port=32767", "--realm=" + TestServer.Realm,
            "--lt-cred-mech", "--oauth", "--userdb=" + turndb, "--allow-loopback-peers", "--no-stdout-log");
        using TurnutilsPeer peer = await TurnutilsPeer.StartAsync();
        ToolResult result = await ExternalProcess.RunAsync(
            "turnutils_uclient",
            ["-J", "-e", "127.0.0.1", "-r", peer.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-n", "50", "-m", "4", "-l", "170", "127.0.0.1"],
            TimeSpan.FromSeconds(60));

        UclientOutput.AssertNoLoss(result, 200);
        Assert.Equal(0, server.Engine.Counters.GetAuthFailures(Core.Diagnostics.AuthFailureReason.BadAccessToken));
        Assert.All(server.Events.Created, a => Assert.Contains(a.Username, new[] { "north", "union", "oldempire" }));
        Assert.All(server.Events.Created, a => Assert.True(a.ViaAccessToken));
    }

    private static async Task<int> AllocateCodeAsync(StunUdpClient client) =>
        StunUdpClient.Code(await client.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17)));

    private static async Task WaitForRefreshAsync(TestServer server)
    {
        Task refreshed = server.Host.Services.GetRequiredService<UserDatabaseRefresher>().NextRefreshAsync();
        Assert.Same(refreshed, await Task.WhenAny(refreshed, Task.Delay(RefreshWait)));
    }
}
