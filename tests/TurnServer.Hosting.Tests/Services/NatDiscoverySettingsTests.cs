using System.Net;
using TurnServer.Core;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Tests.Configuration;

namespace TurnServer.Hosting.Tests.Services;

/// <summary>When RFC 5780 NAT behaviour discovery is on, as coTURN 4.7 decides it: asked for, two listening IPs of a family, UDP.</summary>
public sealed class NatDiscoverySettingsTests
{
    private static readonly IPAddress[] TwoIps = [IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.2")];

    [Fact]
    public void Two_listening_ips_of_a_family_turn_it_on_with_the_next_port_as_alternate()
    {
        NatBehaviorDiscovery? discovery = Create("rfc5780\nlistening-port=3478\n", TwoIps);

        Assert.NotNull(discovery);
        Assert.Equal(3478, discovery.Port);
        Assert.Equal(3479, discovery.AlternatePort);
        Assert.Equal(TwoIps.ToHashSet(), discovery.Addresses.ToHashSet());
    }

    [Fact]
    public void Alt_listening_port_sets_the_alternate_port()
    {
        Assert.Equal(4000, Create("rfc5780\nlistening-port=3478\nalt-listening-port=4000\n", TwoIps)?.AlternatePort);
    }

    [Theory]
    [InlineData("rfc5780\nno-rfc5780\n")]
    [InlineData("")]
    [InlineData("rfc5780\nno-udp\n")]
    [InlineData("rfc5780\nlistening-port=65535\n")]
    [InlineData("rfc5780\nlistening-port=3478\nalt-listening-port=3478\n")]
    public void It_stays_off_unless_asked_for_or_without_a_usable_alternate_port(string conf)
    {
        Assert.Null(Create(conf, TwoIps));
    }

    [Fact]
    public void One_address_per_family_leaves_it_off()
    {
        Assert.Null(Create("rfc5780\n", [IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1"), IPAddress.IPv6Loopback]));
    }

    private static NatBehaviorDiscovery? Create(string conf, IPAddress[] listeningIps)
    {
        TurnServerSettings settings = TestLoader.Settings(conf + "realm=example.org\nno-auth\n");
        return TurnServerHostFactory.CreateNatDiscovery(settings, listeningIps);
    }
}
