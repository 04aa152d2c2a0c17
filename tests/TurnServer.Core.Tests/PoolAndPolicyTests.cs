using System.Net;
using TurnServer.Core.Peers;
using TurnServer.Core.Relay;

namespace TurnServer.Core.Tests;

public class PoolAndPolicyTests
{
    [Fact]
    public void Pool_hands_out_every_port_once_then_refuses_until_one_is_released()
    {
        var pool = new RelayPortPool(50000, 50099);
        var seen = new HashSet<int>();
        for (int i = 0; i < 100; i++)
        {
            Assert.True(pool.TryTake(out int port));
            Assert.InRange(port, 50000, 50099);
            Assert.True(seen.Add(port));
        }

        Assert.False(pool.TryTake(out _)); // the 101st
        pool.Release(50042);
        pool.Release(50042);
        pool.Release(12);
        Assert.True(pool.TryTake(out int again));
        Assert.Equal(50042, again);
        Assert.False(pool.TryTake(out _));
    }

    [Fact]
    public void Pool_order_is_random()
    {
        var pool = new RelayPortPool(50000, 59999);
        var first = new List<int>();
        for (int i = 0; i < 20; i++)
        {
            pool.TryTake(out int port);
            first.Add(port);
        }

        Assert.NotEqual(first.Order().ToList(), first);
    }

    [Fact]
    public void Even_port_with_next_takes_a_pair()
    {
        var pool = new RelayPortPool(50000, 50003);
        Assert.True(pool.TryTakeSpecific(50000));
        Assert.True(pool.TryTakeEven(withNext: true, out int port));
        Assert.Equal(50002, port);
        Assert.Equal(1, pool.FreeCount);
        Assert.False(pool.TryTakeEven(withNext: false, out _));
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1", "10.0.0.1", true)]
    [InlineData("10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255", true)]
    [InlineData("10.0.0.0/8", "10.0.0.0", "10.255.255.255", true)]
    [InlineData("2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true)]
    [InlineData("10.0.0.9-10.0.0.1", "", "", false)]
    [InlineData("10.0.0.1-2001:db8::1", "", "", false)]
    [InlineData("10.0.0.0/33", "", "", false)]
    [InlineData("nonsense", "", "", false)]
    public void Ranges_parse_in_coturn_and_cidr_forms(string text, string first, string last, bool ok)
    {
        Assert.Equal(ok, IPAddressRange.TryParse(text, out IPAddressRange range));
        if (ok)
        {
            Assert.Equal(IPAddress.Parse(first), range.First);
            Assert.Equal(IPAddress.Parse(last), range.Last);
        }
    }

    [Fact]
    public void Mapped_ipv6_cannot_bypass_a_denied_ipv4_range()
    {
        IPAddressRange.TryParse("10.0.0.0/8", out IPAddressRange denied);
        var policy = new PeerAddressPolicy(allowLoopback: false, denyMulticast: true, [], [denied]);
        Assert.False(policy.IsAllowed(IPAddress.Parse("10.1.2.3")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("::ffff:10.1.2.3")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("11.1.2.3")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("255.255.255.255")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("ff02::1")));
        Assert.False(policy.IsAllowed(IPAddress.IPv6Any));
    }
}
