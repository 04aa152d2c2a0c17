using System.Net;
using TurnServer.Core.Peers;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tests.Configuration;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.UserDb;

namespace TurnServer.Hosting.Tests.Services;

/// <summary>
/// What a user database read changes in the engine: peer ranges (unless <c>no-dynamic-ip-list</c>) and the realm's
/// quotas and max-bps over the configuration's (unless <c>no-dynamic-realms</c>).
/// </summary>
public sealed class EngineConfiguratorTests
{
    private static readonly IPAddress DeniedByDatabase = IPAddress.Parse("203.0.113.5");

    [Theory]
    [InlineData("", true, true)]
    [InlineData("no-dynamic-ip-list\n", false, true)]
    [InlineData("no-dynamic-realms\n", true, false)]
    public void The_databases_peer_ranges_and_realm_options_apply_unless_switched_off(string flags, bool databasePeers, bool databaseRealm)
    {
        TurnServerSettings settings = TestLoader.Settings("realm=example.org\nuser=alice:secret\nuser-quota=5\ntotal-quota=50\nmax-bps=100000\n" + flags);
        var engine = TestEngines.For(settings);
        var configurator = new EngineConfigurator(engine, settings, null, TimeProvider.System);
        Assert.True(IPAddressRange.TryParse("203.0.113.0/24", out IPAddressRange denied));

        configurator.Apply(UserDatabaseSnapshot.Empty with { DeniedPeers = [denied], UserQuota = 1, TotalQuota = 10, MaxBps = 64_000 });

        Assert.Equal(!databasePeers, engine.PeerPolicy.IsAllowed(DeniedByDatabase));
        Assert.Equal(databaseRealm ? (1, 10, 64_000L) : (5, 50, 100_000L), (engine.Allocations.UserQuota, engine.Allocations.TotalQuota, engine.Allocations.MaxBps));
    }
}
