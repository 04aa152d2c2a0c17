using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Lifecycle;
using TurnServer.Hosting.Tests.Configuration;
using TurnServer.Hosting.Tests.Infrastructure;

namespace TurnServer.Hosting.Tests.Lifecycle;

/// <summary>SIGHUP's reload: what it puts in force, and what it says waits for a restart.</summary>
public sealed class ConfigurationReloaderTests
{
    private const string Base = "realm=example.org\nlt-cred-mech\nuser=alice:secret\n";

    /// <summary>
    /// Regression: a reload that pointed the server at another user database changed nothing and said nothing, so an
    /// operator believed the new database in force.
    /// </summary>
    [Theory]
    [InlineData("userdb=/var/lib/turn/other.db\n")]
    [InlineData("psql-userdb=host=db dbname=coturn\n")]
    [InlineData("redis-userdb=ip=127.0.0.1 dbname=2\n")]
    [InlineData("redis-statsdb=ip=127.0.0.1 dbname=3\n")]
    [InlineData("oauth\n")]
    public void A_reload_that_changes_a_database_or_oauth_says_it_takes_effect_at_the_next_start(string change)
    {
        var (reloader, logger) = Reloader(Base + change);

        Assert.True(reloader.Reload());

        Assert.Contains("Warning: the reloaded configuration changes listeners, relay ports, certificate paths, databases or oauth; those take effect at the next start", logger.Lines);
    }

    [Fact]
    public void A_reload_that_only_changes_users_puts_them_in_force_without_a_restart_warning()
    {
        var (reloader, logger) = Reloader(Base + "user=bob:builder\n");

        Assert.True(reloader.Reload());

        Assert.Equal(["Information: configuration reloaded: 2 users, 0 shared secrets, 0 allowed and 0 denied peer ranges"], logger.Lines);
    }

    /// <summary>
    /// Regression: a file the server may not read (a permission changed after start, or after the privilege drop) was
    /// not a refused reload but an exception out of the SIGHUP handler.
    /// </summary>
    [Fact]
    public void A_configuration_the_server_may_not_read_is_refused_and_the_old_one_kept()
    {
        TurnServerSettings started = TestLoader.Settings(Base);
        var logger = new LineLogger();
        var configurator = new EngineConfigurator(TestEngines.For(started), started, null, TimeProvider.System);
        var reloader = new ConfigurationReloader(() => throw new UnauthorizedAccessException("Access to the path '/etc/turnserver.conf' is denied."), configurator, null, logger);

        Assert.False(reloader.Reload());

        Assert.Single(logger.Lines, line => line.StartsWith("Error: configuration reload refused, the running configuration stays: ", StringComparison.Ordinal) && line.Contains("Access to the path '/etc/turnserver.conf' is denied.", StringComparison.Ordinal));
        Assert.Same(started, configurator.Settings);
    }

    private static (ConfigurationReloader Reloader, LineLogger Logger) Reloader(string reloaded)
    {
        TurnServerSettings started = TestLoader.Settings(Base);
        var logger = new LineLogger();
        var configurator = new EngineConfigurator(TestEngines.For(started), started, null, TimeProvider.System);
        return (new ConfigurationReloader(() => TestLoader.LoadConf(reloaded), configurator, null, logger), logger);
    }
}
