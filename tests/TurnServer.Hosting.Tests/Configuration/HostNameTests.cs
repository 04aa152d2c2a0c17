using System.Net;
using System.Net.Sockets;
using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

/// <summary>
/// coTURN's make_ioa_addr falls back to getaddrinfo, so external-ip=turn.example.org or listening-ip=localhost start
/// coTURN; they stopped start-up here when only IP literals were taken.
/// </summary>
public class HostNameTests
{
    [Fact]
    public void Address_options_take_localhost_as_its_ipv4_address()
    {
        TurnServerConfigLoadResult result = TestLoader.LoadConf(
            "no-auth\nlistening-ip=localhost\nrelay-ip=localhost\nexternal-ip=localhost\ncli-ip=localhost\nweb-admin-ip=localhost\n"
            + "prometheus-address=localhost\nalternate-server=localhost:3479\ntls-alternate-server=localhost\naux-server=localhost:4000\n");
        TurnServerSettings s = result.Settings!;

        Assert.Empty(result.Errors);
        Assert.Equal([IPAddress.Loopback], s.ListeningIps);
        Assert.Equal([IPAddress.Loopback], s.RelayIps);
        Assert.Equal([new ExternalIpMapping(IPAddress.Loopback, null)], s.ExternalIps);
        Assert.Equal((IPAddress.Loopback, IPAddress.Loopback, IPAddress.Loopback), (s.CliIp, s.WebAdminIp, s.PrometheusAddress));
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 3479)], s.AlternateServers);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 5349)], s.TlsAlternateServers);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 4000)], s.AuxServers);
        Assert.Contains(result.Warnings, w => w.Contains(".conf:3: option 'relay-ip': host name 'localhost' resolved to 127.0.0.1 (of ", StringComparison.Ordinal));
    }

    [Fact]
    public void A_host_name_stands_for_its_first_ipv4_address_else_its_first_ipv6_one_as_in_coturn()
    {
        IPAddress[] Both(string host) => [IPAddress.Parse("2001:db8::5"), IPAddress.Parse("192.0.2.7"), IPAddress.Parse("192.0.2.8")];
        IPAddress[] V6(string host) => [IPAddress.Parse("2001:db8::5"), IPAddress.Parse("2001:db8::6")];

        TurnServerConfigLoadResult both = TestLoader.Load(["-n", "-z", "--external-ip=turn.example.org"], resolveHost: Both);
        TurnServerConfigLoadResult v6 = TestLoader.Load(["-n", "-z", "--external-ip=turn.example.org"], resolveHost: V6);

        Assert.Equal(IPAddress.Parse("192.0.2.7"), Assert.Single(both.Settings!.ExternalIps).Public);
        Assert.Contains("command line (--external-ip): option 'external-ip': host name 'turn.example.org' resolved to 192.0.2.7 (of 2001:db8::5, 192.0.2.7, 192.0.2.8: the first IPv4 address, else the first IPv6 one, as coTURN takes it)", both.Warnings);
        Assert.Equal(IPAddress.Parse("2001:db8::5"), Assert.Single(v6.Settings!.ExternalIps).Public);
    }

    [Theory]
    [InlineData("relay-ip=turn.example.org", "turnserver.conf:2: invalid value 'turn.example.org' for option 'relay-ip': not an IP address or host name; host name 'turn.example.org' does not resolve: ")]
    [InlineData("cli-ip=turn.example.org", "turnserver.conf:2: invalid value 'turn.example.org' for option 'cli-ip': not an IP address or host name; host name 'turn.example.org' does not resolve: ")]
    [InlineData("alternate-server=turn.example.org:3478", "turnserver.conf:2: invalid value 'turn.example.org:3478' for option 'alternate-server': not an address ('ip', 'ip:port' or '[ipv6]:port', or a host name for ip); host name 'turn.example.org' does not resolve: ")]
    [InlineData("external-ip=203.0.113.1/turn.example.org", "turnserver.conf:2: invalid value '203.0.113.1/turn.example.org' for option 'external-ip': not an external IP ('public-ip' or 'public-ip/private-ip'); host name 'turn.example.org' does not resolve: ")]
    public void A_host_name_that_does_not_resolve_is_an_error_naming_the_option_value_and_line(string line, string expected)
    {
        using var file = new TempConfFile("no-auth\n" + line + "\n");
        TurnServerConfigLoadResult result = TestLoader.Load(["-c", file.Path]);

        Assert.Null(result.Settings);
        Assert.StartsWith(expected, Assert.Single(result.Errors).Replace(file.Path, "turnserver.conf", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void A_host_name_without_addresses_or_of_the_wrong_family_for_a_mapping_is_an_error()
    {
        TurnServerConfigLoadResult none = TestLoader.Load(["-n", "-z", "-L", "turn.example.org"], resolveHost: _ => []);
        TurnServerConfigLoadResult mixed = TestLoader.Load(["-n", "-z", "-X", "turn.example.org/10.0.0.1"], resolveHost: _ => [IPAddress.Parse("2001:db8::5")]);

        Assert.Equal(["command line (-L): invalid value 'turn.example.org' for option 'listening-ip': not an IP address or host name; host name 'turn.example.org' has no IPv4 or IPv6 address"], none.Errors);
        Assert.Equal(["command line (-X): invalid value 'turn.example.org/10.0.0.1' for option 'external-ip': not an external IP ('public-ip' or 'public-ip/private-ip')"], mixed.Errors);
    }

    [Fact]
    public void A_lookup_that_throws_an_argument_exception_is_an_error_not_a_crash()
    {
        TurnServerConfigLoadResult result = TestLoader.Load(["-n", "-z", "--prometheus-address=turn.example.org"], resolveHost: _ => throw new ArgumentException("bad name"));

        Assert.Equal(["command line (--prometheus-address): invalid value 'turn.example.org' for option 'prometheus-address': not an IP address or host name; host name 'turn.example.org' does not resolve: bad name"], result.Errors);
    }

    [Theory]
    [InlineData("localhost", true)]
    [InlineData("turn-1.example.org", true)]
    [InlineData("1.example.org", true)]
    [InlineData("10.0.0", false)]
    [InlineData("010.0.0.1", false)]
    [InlineData("example.123", false)]
    [InlineData("-turn.example.org", false)]
    [InlineData("turn-.example.org", false)]
    [InlineData("turn..example.org", false)]
    [InlineData("turn_1.example.org", false)]
    [InlineData("", false)]
    public void Only_host_names_are_looked_up(string text, bool hostName)
    {
        Assert.Equal(hostName, TurnValueParser.IsHostName(text));
    }

    [Fact]
    public void Without_a_lookup_the_parser_takes_literals_only_and_never_throws()
    {
        Assert.False(TurnValueParser.TryParseIPAddress("localhost", null, out _));
        Assert.True(TurnValueParser.TryParseIPAddress("localhost", _ => IPAddress.Loopback, out IPAddress? address));
        Assert.Equal(IPAddress.Loopback, address);
        Assert.False(TurnValueParser.TryParseEndPoint("localhost:99999", 3478, _ => throw new SocketException(), out _));
    }
}
