using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class TurnCommandLineParserTests
{
    private static (string Name, string Value, string Origin)[] Entries(TurnCommandLine commandLine) =>
        [.. commandLine.Layer.Entries.Select(e => (e.Option.Name!, e.Value, e.Origin))];

    [Theory]
    [InlineData("--listening-port=3479")]
    [InlineData("--listening-port", "3479")]
    [InlineData("-p", "3479")]
    [InlineData("-p3479")]
    [InlineData("--listening-p=3479")]
    public void Every_form_of_a_required_value_is_read(params string[] args)
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(args);

        (string name, string value, _) = Assert.Single(Entries(commandLine));
        Assert.Equal(("listening-port", "3479"), (name, value));
        Assert.Empty(commandLine.Layer.Warnings);
        Assert.Empty(commandLine.Layer.Errors);
    }

    [Fact]
    public void Origins_name_the_option_as_written()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["-p", "1", "--realm=r", "--db", "/x"]);

        Assert.Equal(
            [("listening-port", "1", "command line (-p)"), ("realm", "r", "command line (--realm)"), ("userdb", "/x", "command line (--db)")],
            Entries(commandLine));
    }

    [Fact]
    public void A_required_value_may_start_with_a_dash()
    {
        Assert.Equal([("realm", "-x", "command line (--realm)")], Entries(TurnCommandLineParser.Parse(["--realm", "-x"])));
    }

    [Fact]
    public void Bundled_short_flags_are_split_and_a_value_letter_takes_the_rest()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["-afv", "-zp3478", "-Sm", "4"]);

        Assert.Equal(
            [
                ("lt-cred-mech", "", "command line (-a)"),
                ("fingerprint", "", "command line (-f)"),
                ("verbose", "", "command line (-v)"),
                ("no-auth", "", "command line (-z)"),
                ("listening-port", "3478", "command line (-p)"),
                ("stun-only", "", "command line (-S)"),
                ("relay-threads", "4", "command line (-m)"),
            ],
            Entries(commandLine));
    }

    [Fact]
    public void Short_verbose_letters_are_case_sensitive()
    {
        Assert.Equal(["verbose", "Verbose"], TurnCommandLineParser.Parse(["-v", "-V"]).Layer.Entries.Select(e => e.Option.Name));
    }

    [Fact]
    public void Optional_values_are_taken_only_after_equals_as_getopt_does()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["--stale-nonce", "--stale-nonce=300", "--lt-cred-mech", "--fingerprint=0"]);

        Assert.Equal(
            [
                ("stale-nonce", "", "command line (--stale-nonce)"),
                ("stale-nonce", "300", "command line (--stale-nonce)"),
                ("lt-cred-mech", "", "command line (--lt-cred-mech)"),
                ("fingerprint", "0", "command line (--fingerprint)"),
            ],
            Entries(commandLine));
        Assert.Empty(commandLine.Layer.Warnings);
    }

    /// <summary>coTURN declares it with required_argument, so getopt takes the next word as its value.</summary>
    [Fact]
    public void Cli_max_output_sessions_takes_its_value_from_the_next_argument()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["--cli-max-output-sessions", "10"]);

        Assert.Equal([("cli-max-output-sessions", "10", "command line (--cli-max-output-sessions)")], Entries(commandLine));
        Assert.Empty(commandLine.Layer.Warnings);
        Assert.Equal(10, TestLoader.Load(["-n", "-z", "--cli-max-output-sessions", "10"]).Settings!.CliMaxOutputSessions);
    }

    [Fact]
    public void A_value_after_an_optional_value_option_is_a_stray_argument_with_a_hint()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["--stale-nonce", "300"]);

        Assert.Equal([("stale-nonce", "", "command line (--stale-nonce)")], Entries(commandLine));
        Assert.Equal(["command line: unexpected argument '300' ignored; --stale-nonce takes a value only as --stale-nonce=300"], commandLine.Layer.Warnings);
    }

    [Fact]
    public void Config_file_no_config_help_and_version_are_recognised_and_yield_no_entries()
    {
        TurnCommandLine withFile = TurnCommandLineParser.Parse(["-c", "/tmp/x.conf"]);
        TurnCommandLine attached = TurnCommandLineParser.Parse(["-c/tmp/y.conf", "-n"]);

        Assert.Equal("/tmp/x.conf", withFile.ConfigFile);
        Assert.False(withFile.NoConfigFile);
        Assert.Equal("/tmp/y.conf", attached.ConfigFile);
        Assert.True(attached.NoConfigFile);
        Assert.True(TurnCommandLineParser.Parse(["-h"]).HelpRequested);
        Assert.True(TurnCommandLineParser.Parse(["--help"]).HelpRequested);
        Assert.True(TurnCommandLineParser.Parse(["--version"]).VersionRequested);
        Assert.Empty(withFile.Layer.Entries);
        Assert.Empty(attached.Layer.Entries);
    }

    [Fact]
    public void Unknown_options_and_stray_arguments_are_warnings()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["--no-such-option=1", "-x", "stray", "-", "--no-t", "-f"]);

        Assert.Equal([("fingerprint", "", "command line (-f)")], Entries(commandLine));
        Assert.Empty(commandLine.Layer.Errors);
        Assert.Equal(
            [
                "command line: unknown option '--no-such-option' ignored",
                "command line: unknown option '-x' ignored",
                "command line: unexpected argument 'stray' ignored",
                "command line: unexpected argument '-' ignored",
                "command line: ambiguous option '--no-t' ignored (it could be --no-tcp, --no-tcp-relay, --no-tls, --no-tlsv1, --no-tlsv1_1, --no-tlsv1_2)",
            ],
            commandLine.Layer.Warnings);
    }

    [Fact]
    public void Double_dash_ends_the_options()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["-f", "--", "-a"]);

        Assert.Equal([("fingerprint", "", "command line (-f)")], Entries(commandLine));
        Assert.Equal(["command line: unexpected argument '-a' ignored"], commandLine.Layer.Warnings);
    }

    [Theory]
    [InlineData("--listening-port")]
    [InlineData("-p")]
    [InlineData("-c")]
    public void A_missing_required_value_is_an_error(string arg)
    {
        Assert.Equal([$"command line: option '{arg}' requires a value"], TurnCommandLineParser.Parse([arg]).Layer.Errors);
    }

    [Fact]
    public void A_short_option_value_starting_with_equals_draws_coturns_warning()
    {
        TurnCommandLine commandLine = TurnCommandLineParser.Parse(["-r=example.org"]);

        Assert.Equal([("realm", "=example.org", "command line (-r)")], Entries(commandLine));
        Assert.Equal(["command line: the value of '-r' starts with '='; short options take it as '-r value'"], commandLine.Layer.Warnings);
    }

    [Fact]
    public void Keep_address_family_needs_a_value_in_short_form_only()
    {
        Assert.Equal([("keep-address-family", "1", "command line (-K)")], Entries(TurnCommandLineParser.Parse(["-K", "1"])));
        Assert.Equal([("keep-address-family", "", "command line (--keep-address-family)")], Entries(TurnCommandLineParser.Parse(["--keep-address-family"])));
    }
}
