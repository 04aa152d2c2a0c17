using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class TurnEnvironmentParserTests
{
    private static (string Name, string Value, string Origin)[] Entries(TurnConfigurationLayer layer) =>
        [.. layer.Entries.Select(e => (e.Option.Name!, e.Value, e.Origin))];

    [Fact]
    public void Underscores_map_to_dashes_and_case_is_ignored()
    {
        TurnConfigurationLayer layer = TurnEnvironmentParser.Parse(new Dictionary<string, string?>
        {
            ["TURNSERVER_LISTENING_PORT"] = "3479",
            ["turnserver_min_port"] = "50000",
            ["TURNSERVER_NO_TLSV1_1"] = "",
            ["TURNSERVER_CA_FILE"] = "/ca.pem",
            ["PATH"] = "/usr/bin",
        });

        Assert.Equal(
            [
                ("CA-file", "/ca.pem", "environment variable TURNSERVER_CA_FILE"),
                ("listening-port", "3479", "environment variable TURNSERVER_LISTENING_PORT"),
                ("no-tlsv1_1", "", "environment variable TURNSERVER_NO_TLSV1_1"),
                ("min-port", "50000", "environment variable turnserver_min_port"),
            ],
            Entries(layer));
        Assert.Empty(layer.Warnings);
    }

    [Fact]
    public void Exact_case_tells_Verbose_from_verbose_and_otherwise_lowercase_wins()
    {
        Assert.Equal("verbose", Assert.Single(TurnEnvironmentParser.Parse(new Dictionary<string, string?> { ["TURNSERVER_VERBOSE"] = "1" }).Entries).Option.Name);
        Assert.Equal("verbose", Assert.Single(TurnEnvironmentParser.Parse(new Dictionary<string, string?> { ["TURNSERVER_verbose"] = "1" }).Entries).Option.Name);
        Assert.Equal("Verbose", Assert.Single(TurnEnvironmentParser.Parse(new Dictionary<string, string?> { ["TURNSERVER_Verbose"] = "1" }).Entries).Option.Name);
    }

    [Fact]
    public void Repeatable_options_take_plain_and_indexed_variables_in_numeric_order()
    {
        TurnConfigurationLayer layer = TurnEnvironmentParser.Parse(new Dictionary<string, string?>
        {
            ["TURNSERVER_USER__10"] = "k:3",
            ["TURNSERVER_USER__2"] = "j:2",
            ["TURNSERVER_USER"] = "i:1",
        });

        Assert.Equal(["i:1", "j:2", "k:3"], layer.Entries.Select(e => e.Value));
    }

    [Fact]
    public void Unknown_names_bad_indexes_and_command_line_only_options_are_warnings()
    {
        TurnConfigurationLayer layer = TurnEnvironmentParser.Parse(new Dictionary<string, string?>
        {
            ["TURNSERVER_NO_SUCH"] = "1",
            ["TURNSERVER_USER__X"] = "a:b",
            ["TURNSERVER_REALM__0"] = "r",
            ["TURNSERVER_VERSION"] = "1",
        });

        Assert.Empty(layer.Entries);
        Assert.Equal(
            [
                "environment variable TURNSERVER_NO_SUCH: unknown option ignored",
                "environment variable TURNSERVER_REALM__0: option 'realm' takes one value, not a list; ignored",
                "environment variable TURNSERVER_USER__X: 'X' is not a list index; ignored",
                "environment variable TURNSERVER_VERSION: unknown option ignored",
            ],
            layer.Warnings);
    }

    /// <summary>
    /// A Service named turnserver-cli (or turnserver) makes Kubernetes set these in every pod of its namespace;
    /// TURNSERVER_CLI_PORT was read as cli-port and its tcp:// value stopped start-up.
    /// </summary>
    [Fact]
    public void Kubernetes_service_link_variables_are_skipped_without_a_warning()
    {
        TurnConfigurationLayer layer = TurnEnvironmentParser.Parse(new Dictionary<string, string?>
        {
            ["TURNSERVER_CLI_PORT"] = "tcp://10.0.0.1:5766",
            ["TURNSERVER_CLI_PORT_5766_TCP"] = "tcp://10.0.0.1:5766",
            ["TURNSERVER_CLI_PORT_5766_TCP_PROTO"] = "tcp",
            ["TURNSERVER_CLI_PORT_5766_TCP_PORT"] = "5766",
            ["TURNSERVER_CLI_PORT_5766_TCP_ADDR"] = "10.0.0.1",
            ["TURNSERVER_CLI_SERVICE_HOST"] = "10.0.0.1",
            ["TURNSERVER_CLI_SERVICE_PORT"] = "5766",
            ["TURNSERVER_CLI_SERVICE_PORT_TELNET"] = "5766",
            ["TURNSERVER_PORT"] = "udp://[fd00::10]:3478",
            ["TURNSERVER_PORT_3478_UDP"] = "udp://[fd00::10]:3478",
            ["TURNSERVER_PROMETHEUS_PORT"] = "sctp://10.0.0.2:9641",
            ["TURNSERVER_MIN_PORT"] = "50000",
        });

        Assert.Equal([("min-port", "50000", "environment variable TURNSERVER_MIN_PORT")], Entries(layer));
        Assert.Empty(layer.Warnings);
    }

    [Theory]
    [InlineData("TURNSERVER_CLI_PORT", "5766")]
    [InlineData("TURNSERVER_CLI_PORT", "http://10.0.0.1:5766")]
    [InlineData("TURNSERVER_CLI_PORT", "tcp://10.0.0.1")]
    [InlineData("TURNSERVER_CLI_PORT", "tcp://host.example:5766")]
    public void A_port_option_whose_value_is_not_a_service_link_is_still_read(string variable, string value)
    {
        TurnConfigurationLayer layer = TurnEnvironmentParser.Parse(new Dictionary<string, string?> { [variable] = value });

        Assert.Equal([("cli-port", value, "environment variable " + variable)], Entries(layer));
    }

    [Theory]
    [InlineData("TURNSERVER_CLI_PORT_5766_TCP_PROTO", "udp")]
    [InlineData("TURNSERVER_CLI_PORT_5766_TCP_PORT", "5767")]
    [InlineData("TURNSERVER_CLI_SERVICE_HOST", "cli.example")]
    [InlineData("TURNSERVER_CLI_PORT_5766_TCP", "tcp://10.0.0.1:5767")]
    public void A_service_link_name_with_a_value_kubernetes_would_not_give_is_an_unknown_option(string variable, string value)
    {
        TurnConfigurationLayer layer = TurnEnvironmentParser.Parse(new Dictionary<string, string?> { [variable] = value });

        Assert.Equal(["environment variable " + variable + ": unknown option ignored"], layer.Warnings);
    }
}
