using System.Net;
using System.Net.Sockets;
using TurnServer.Hosting.Services;

namespace TurnServer.Hosting.Tests.Services;

/// <summary>A wildcard <c>listening-ip</c> or <c>relay-ip</c> must never reach a client as an address.</summary>
public sealed class ListeningAddressesTests
{
    [Fact]
    public void An_ipv4_wildcard_stands_for_every_ipv4_interface_address_and_keeps_explicit_ones()
    {
        IPAddress explicitV6 = IPAddress.Parse("2001:db8::7");
        IReadOnlyList<IPAddress> resolved = ListeningAddresses.Resolve([IPAddress.Any, explicitV6]);

        Assert.Contains(IPAddress.Loopback, resolved);
        Assert.DoesNotContain(IPAddress.Any, resolved);
        Assert.Equal(explicitV6, resolved[^1]);
        Assert.All(resolved.SkipLast(1), ip => Assert.Equal(AddressFamily.InterNetwork, ip.AddressFamily));
        Assert.Equal(resolved.Count, resolved.Distinct().Count());
    }

    [Fact]
    public void An_ipv6_wildcard_stands_for_the_ipv6_interface_addresses_without_link_local()
    {
        IReadOnlyList<IPAddress> resolved = ListeningAddresses.Resolve([IPAddress.IPv6Any, IPAddress.Loopback]);

        Assert.DoesNotContain(IPAddress.IPv6Any, resolved);
        Assert.Equal(IPAddress.Loopback, resolved[^1]);
        Assert.All(resolved.SkipLast(1), ip => Assert.True(ip.AddressFamily == AddressFamily.InterNetworkV6 && !ip.IsIPv6LinkLocal, ip.ToString()));
        if (Socket.OSSupportsIPv6)
        {
            Assert.Contains(IPAddress.IPv6Loopback, resolved);
        }
    }

    [Fact]
    public void Explicit_addresses_are_kept_as_given()
    {
        IPAddress[] configured = [IPAddress.Parse("192.0.2.1"), IPAddress.Loopback, IPAddress.Parse("192.0.2.1")];
        Assert.Same(configured, ListeningAddresses.Resolve(configured));
    }

    [Fact]
    public void Nothing_configured_means_every_interface_address_of_both_families()
    {
        IReadOnlyList<IPAddress> resolved = ListeningAddresses.Resolve([]);

        Assert.Contains(IPAddress.Loopback, resolved);
        Assert.DoesNotContain(resolved, ip => ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any) || ip.IsIPv6LinkLocal);
    }

    [Fact]
    public void A_wildcard_relay_ip_means_no_relay_ip()
    {
        IPAddress relay = IPAddress.Parse("192.0.2.9");
        Assert.Equal([relay], ListeningAddresses.RelayAddresses([IPAddress.Any, relay, IPAddress.IPv6Any]));
        Assert.Empty(ListeningAddresses.RelayAddresses([IPAddress.Any]));
    }
}
