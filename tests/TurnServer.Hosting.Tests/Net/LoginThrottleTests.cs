using System.Net;
using System.Threading.RateLimiting;
using TurnServer.Hosting.Net;

namespace TurnServer.Hosting.Tests.Net;

/// <summary>The per-address limiter of the CLI's password tries and the web admin's logins.</summary>
public sealed class LoginThrottleTests
{
    /// <summary>Regression: an IPv6 guesser got a fresh allowance from every address of its /64.</summary>
    [Fact]
    public void Addresses_of_one_ipv6_64_share_one_allowance_and_another_64_has_its_own()
    {
        using PartitionedRateLimiter<IPAddress> limiter = AddressShares.PerMinute(2);

        bool Try(string address)
        {
            using RateLimitLease lease = limiter.AttemptAcquire(IPAddress.Parse(address));
            return lease.IsAcquired;
        }

        Assert.True(Try("2001:db8:1:2::1"));
        Assert.True(Try("2001:db8:1:2::2"));
        Assert.False(Try("2001:db8:1:2:ffff::3"));
        Assert.True(Try("2001:db8:1:3::1"));
        Assert.True(Try("192.0.2.1"));
        Assert.True(Try("::ffff:192.0.2.1"));
        Assert.False(Try("192.0.2.1"));
    }
}
