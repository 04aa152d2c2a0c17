using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tests.Configuration;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Hosting.UserDb;
using TurnServer.UserDb;

namespace TurnServer.Hosting.Tests.UserDb;

/// <summary>A failed read of the user database is logged and retried; it never stops the server.</summary>
public sealed class UserDatabaseRefresherTests
{
    /// <summary>
    /// Regression: Npgsql's ArgumentException for settings it refuses only when connecting ("Host can't be null") escaped the
    /// refresher and ended the server at start.
    /// </summary>
    [Theory]
    [InlineData(typeof(ArgumentException))]
    [InlineData(typeof(NotSupportedException))]
    [InlineData(typeof(UnauthorizedAccessException))]
    public async Task A_read_that_throws_is_logged_and_the_server_starts(Type exceptionType)
    {
        TurnServerSettings settings = TestLoader.Settings("realm=example.org\nlt-cred-mech\nuser=alice:secret\n");
        var engine = TestEngines.For(settings);
        var logger = new LineLogger();
        var exception = (Exception)Activator.CreateInstance(exceptionType, "Host can't be null")!;
        using var refresher = new UserDatabaseRefresher(
            new FailingDatabase(exception), new EngineConfigurator(engine, settings, null, TimeProvider.System), settings.Realm, oauth: false, logger, TimeProvider.System);
        Task failed = refresher.NextFailureAsync();

        await refresher.StartAsync(CancellationToken.None);
        await refresher.StopAsync(CancellationToken.None);

        Assert.True(failed.IsCompletedSuccessfully);
        Assert.Equal(["Warning: user database failing test database cannot be read: Host can't be null; keeping the users, secrets and peer lists last read, retrying every 5 s"], logger.Lines);
    }

    /// <summary>
    /// Regression: a database that kept its connection but stopped answering (StackExchange.Redis 1.x ignores
    /// cancellation) stalled the refresh loop for good, with nothing logged. Now the read fails after the timeout, the
    /// same unanswered read is awaited on the next tick instead of another piling up, and its late answer is used.
    /// </summary>
    [Fact]
    public async Task A_read_with_no_answer_fails_after_the_timeout_and_is_awaited_again_rather_than_repeated()
    {
        TurnServerSettings settings = TestLoader.Settings("realm=example.org\nlt-cred-mech\n");
        var engine = TestEngines.For(settings);
        var logger = new LineLogger();
        var database = new SilentDatabase();
        using var refresher = new UserDatabaseRefresher(
            database, new EngineConfigurator(engine, settings, null, TimeProvider.System), settings.Realm, oauth: false, logger, TimeProvider.System, TimeSpan.FromMilliseconds(100));

        await refresher.RefreshAsync(CancellationToken.None);
        await refresher.RefreshAsync(CancellationToken.None);

        Assert.Equal(1, database.Loads);
        Assert.Equal(["Warning: user database silent test database cannot be read: no answer within 0.1 s; keeping the users, secrets and peer lists last read, retrying every 5 s"], logger.Lines);
        Assert.Equal(0, refresher.Users);

        var late = new UserDatabaseSnapshotBuilder();
        late.AddUserKey("turnusers_lt", "alice", "0123456789abcdef0123456789abcdef");
        database.Answer.SetResult(late.Build());
        await refresher.RefreshAsync(CancellationToken.None);

        Assert.Equal(1, database.Loads);
        Assert.Equal(1, refresher.Users);
        Assert.Equal("Information: user database silent test database can be read again", logger.Lines[^1]);
    }

    private sealed class SilentDatabase() : FailingDatabase(new NotSupportedException(), "silent test database")
    {
        public TaskCompletionSource<UserDatabaseSnapshot> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Loads { get; private set; }

        public override Task<UserDatabaseSnapshot> LoadAsync(string realm, bool withOAuthKeys = false, CancellationToken cancellationToken = default)
        {
            Loads++;
            return Answer.Task; // ignores the token, as StackExchange.Redis 1.x does
        }
    }

    private class FailingDatabase(Exception exception, string description = "failing test database") : TurnUserDatabase(UserDatabaseKind.PostgreSql, description)
    {
        public override Task<UserDatabaseSnapshot> LoadAsync(string realm, bool withOAuthKeys = false, CancellationToken cancellationToken = default) => Task.FromException<UserDatabaseSnapshot>(exception);

        public override Task SetUserKeyAsync(string realm, string name, byte[] key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<bool> DeleteUserAsync(string realm, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<IReadOnlyList<UserDatabaseUser>> ListUsersAsync(string? realm, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task AddSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<IReadOnlyList<UserDatabaseSecret>> ListSecretsAsync(string? realm, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<int> DeleteSecretAsync(string realm, string secret, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<int> DeleteAllSecretsAsync(string realm, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task SetRealmOptionAsync(string realm, string option, int value, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<IReadOnlyList<UserDatabaseRealmOption>> ListRealmOptionsAsync(string? realm, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task SetAdminUserAsync(string name, string realm, string password, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<bool> DeleteAdminUserAsync(string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<IReadOnlyList<UserDatabaseAdmin>> ListAdminUsersAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public override Task<UserDatabaseAdmin?> FindAdminUserAsync(string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }

}
