using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Hosting.WebAdmin;
using TurnServer.UserDb;

namespace TurnServer.Hosting.Tests.WebAdmin;

/// <summary>How long web admin logins last and how many are kept.</summary>
public sealed class WebAdminLoginsTests
{
    private static readonly UserDatabaseAdmin Boss = new("boss", "", "$5$00$00");
    private static readonly UserDatabaseAdmin North = new("north", "north.gov", "$5$00$00");

    /// <summary>Regression: a login kept in use lived until the password changed, so a stolen cookie did too.</summary>
    [Fact]
    public void A_login_in_constant_use_ends_after_its_maximum_lifetime()
    {
        var clock = new ManualClock();
        var logins = new WebAdminLogins(clock);
        string id = logins.Start(Boss);

        for (TimeSpan used = TimeSpan.Zero; used < WebAdminLogins.MaxLifetime; used += TimeSpan.FromMinutes(20))
        {
            Assert.True(logins.TryGet(id, out _), $"after {used}");
            clock.Advance(TimeSpan.FromMinutes(20));
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.False(logins.TryGet(id, out _));
    }

    /// <summary>
    /// Regression: one administrator logging in over and over pushed out every other administrator's login (the
    /// least recently used went first, whoever's it was). Now an administrator's own oldest login goes.
    /// </summary>
    [Fact]
    public void Logging_in_over_and_over_pushes_out_only_the_same_administrators_oldest_login()
    {
        var clock = new ManualClock();
        var logins = new WebAdminLogins(clock);
        string boss = logins.Start(Boss);
        var north = new List<string>();
        for (int i = 0; i < WebAdminLogins.MaxLogins; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            north.Add(logins.Start(North));
        }

        Assert.True(logins.TryGet(boss, out WebAdminLogin? login));
        Assert.Equal("boss", login.Name);
        Assert.Equal(WebAdminLogins.MaxLoginsPerAdmin, north.Count(id => logins.TryGet(id, out _)));
        Assert.All(north[^WebAdminLogins.MaxLoginsPerAdmin..], id => Assert.True(logins.TryGet(id, out _)));
    }
}
