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

    private sealed class FailingDatabase(Exception exception) : TurnUserDatabase(UserDatabaseKind.PostgreSql, "failing test database")
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
