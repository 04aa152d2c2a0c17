using System.Net;
using TurnServer.Hosting.Configuration;
using TurnServer.Tests.Shared;

namespace TurnServer.Hosting.Tests.Configuration;

/// <summary>conf/turnserver.conf, the default configuration: what it offers commented out must be real and working.</summary>
public sealed class ShippedConfigTests
{
    [Fact]
    public void Every_commented_out_option_is_supported_and_loads_with_its_example_value()
    {
        string[] lines = File.ReadAllLines(Path.Combine(RepositoryRoot.Path, "conf", "turnserver.conf"));

        // The alternatives to long-term users are left commented: no-auth and REST secrets exclude them.
        string[] exclusive = ["no-auth", "use-auth-secret", "static-auth-secret", "rest-api-separator"];
        string[] offered = [.. lines.Where(l => (l.Length > 1 && l[0] == '#' && char.IsLetter(l[1]) && !l.Contains(' ', StringComparison.Ordinal)) || l.StartsWith("#psql-userdb=", StringComparison.Ordinal) || l.StartsWith("#redis-userdb=", StringComparison.Ordinal) || l.StartsWith("#redis-statsdb=", StringComparison.Ordinal))
            .Select(l => l[1..])
            .Where(l => !exclusive.Contains(l.Split('=')[0]))];
        Assert.NotEmpty(offered);

        TurnServerConfigLoadResult result = TestLoader.LoadConf(string.Join('\n', [.. lines.Where(l => !l.StartsWith('#')), .. offered]) + "\n");

        Assert.Empty(result.Errors);
        foreach (string name in offered.Select(o => o.Split('=')[0]))
        {
            Assert.True(TurnOptionTable.TryFindByName(name, out TurnOption? option), name);
            Assert.Equal(TurnOptionSupport.Supported, option.Support);
        }

        Assert.DoesNotContain(result.Warnings, w => w.Contains("unknown option", StringComparison.Ordinal) || w.Contains("not yet implemented", StringComparison.Ordinal));
    }

    /// <summary>
    /// Safe as shipped: the relay reaches public peers but not the networks a server usually sits in (private, CGNAT,
    /// unique-local, link-local with cloud metadata, loopback), unless an external-ip's private address is its own.
    /// </summary>
    [Theory]
    [InlineData("203.0.113.9", true)]
    [InlineData("2001:db8::9", true)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.20.0.1", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("10.0.0.10", true, "external-ip=203.0.113.10/10.0.0.10")]
    public void The_shipped_peer_rules_refuse_the_servers_own_networks(string peer, bool allowed, string? extra = null)
    {
        string text = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "conf", "turnserver.conf")) + (extra is null ? string.Empty : extra + "\n");
        TurnServerConfigLoadResult result = TestLoader.LoadConf(text);
        Assert.Empty(result.Errors);
        Assert.Equal(allowed, TurnOptionsFactory.CreatePeerPolicy(result.Settings!, [], []).IsAllowed(IPAddress.Parse(peer)));
    }
}
