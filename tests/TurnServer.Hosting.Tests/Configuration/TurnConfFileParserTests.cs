using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class TurnConfFileParserTests
{
    private static (string Name, string Value, string Origin)[] Entries(string text) =>
        [.. TurnConfFileParser.Parse(text, "t.conf").Entries.Select(e => (e.Option.Name!, e.Value, e.Origin))];

    [Fact]
    public void Key_and_value_are_separated_by_equals_or_blanks()
    {
        var entries = Entries("listening-port=3479\nrealm example.org\nmin-port = 50000\nmax-port\t=\t60000\nserver-name==a.b\n");

        Assert.Equal(
            [
                ("listening-port", "3479", "t.conf:1"),
                ("realm", "example.org", "t.conf:2"),
                ("min-port", "50000", "t.conf:3"),
                ("max-port", "60000", "t.conf:4"),
                ("server-name", "a.b", "t.conf:5"),
            ],
            entries);
    }

    [Fact]
    public void Comment_lines_and_blank_lines_are_skipped_with_line_numbers_kept()
    {
        var entries = Entries("# comment\n\n   # indented comment\n\t\nfingerprint\n");

        Assert.Equal([("fingerprint", "", "t.conf:5")], entries);
    }

    [Fact]
    public void A_hash_after_the_value_is_part_of_the_value_as_in_coturn()
    {
        Assert.Equal([("realm", "example.org # main realm", "t.conf:1")], Entries("realm=example.org # main realm"));
    }

    [Fact]
    public void Bare_key_is_a_flag_with_an_empty_value()
    {
        Assert.Equal([("lt-cred-mech", "", "t.conf:1"), ("no-tls", "", "t.conf:2")], Entries("lt-cred-mech\nno-tls=\n"));
    }

    [Fact]
    public void Leading_and_trailing_white_space_and_CRLF_are_removed()
    {
        var entries = Entries("  \t realm=example.org  \t\r\n\r\nfingerprint\r\nuser=alice:secret \r\n");

        Assert.Equal([("realm", "example.org", "t.conf:1"), ("fingerprint", "", "t.conf:3"), ("user", "alice:secret", "t.conf:4")], entries);
    }

    [Fact]
    public void A_leading_quote_and_one_trailing_quote_are_removed()
    {
        var entries = Entries("pidfile=\"/var/run/turnserver.pid\"\ncipher-list \"DEFAULT\"  \nrealm=\"unterminated\nserver-name=a\"b\"\nproc-user=\"\"\n");

        Assert.Equal(
            [
                ("pidfile", "/var/run/turnserver.pid", "t.conf:1"),
                ("cipher-list", "DEFAULT", "t.conf:2"),
                ("realm", "unterminated", "t.conf:3"),
                ("server-name", "a\"b\"", "t.conf:4"),
                ("proc-user", "", "t.conf:5"),
            ],
            entries);
    }

    [Fact]
    public void Repeated_keys_are_all_kept_in_order()
    {
        var entries = Entries("listening-ip=10.0.0.1\nlistening-ip=10.0.0.2\nuser=a:1\nuser=b:2\n");

        Assert.Equal(
            [("listening-ip", "10.0.0.1", "t.conf:1"), ("listening-ip", "10.0.0.2", "t.conf:2"), ("user", "a:1", "t.conf:3"), ("user", "b:2", "t.conf:4")],
            entries);
    }

    [Fact]
    public void Names_are_case_sensitive_and_aliases_map_to_their_option()
    {
        TurnConfigurationLayer layer = TurnConfFileParser.Parse("Verbose\nverbose\ndb=/var/lib/turn/turndb\nsql-userdb=host=x\nLISTENING-PORT=1\n", "t.conf");

        Assert.Equal(["Verbose", "verbose", "userdb", "psql-userdb"], layer.Entries.Select(e => e.Option.Name));
        Assert.Equal(["t.conf:5: unknown option 'LISTENING-PORT' ignored"], layer.Warnings);
    }

    [Fact]
    public void Unknown_and_command_line_only_options_are_warnings_naming_the_line()
    {
        TurnConfigurationLayer layer = TurnConfFileParser.Parse("fingerprint\nno-such-option=1\nversion\nhelp\n", "t.conf");

        Assert.Single(layer.Entries);
        Assert.Empty(layer.Errors);
        Assert.Equal(
            [
                "t.conf:2: unknown option 'no-such-option' ignored",
                "t.conf:3: option 'version' is only valid on the command line; ignored",
                "t.conf:4: option 'help' is only valid on the command line; ignored",
            ],
            layer.Warnings);
    }

    [Fact]
    public void A_line_ending_with_a_semicolon_is_warned_about_as_coturn_does()
    {
        TurnConfigurationLayer layer = TurnConfFileParser.Parse("realm=example.org;\n", "t.conf");

        Assert.Equal("example.org;", Assert.Single(layer.Entries).Value);
        Assert.Equal(["t.conf:1: the line ends with ';', which is taken as part of the value"], layer.Warnings);
    }

    [Fact]
    public void A_byte_order_mark_is_ignored()
    {
        Assert.Equal([("fingerprint", "", "t.conf:1")], Entries("\uFEFFfingerprint\n"));
    }

    [Fact]
    public void An_unreadable_file_is_an_error_not_an_exception()
    {
        string directory = Path.Combine(Path.GetTempPath(), "turnserver-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            TurnConfigurationLayer layer = TurnConfFileParser.ParseFile(directory);

            Assert.StartsWith(directory + ": cannot read the configuration file: ", Assert.Single(layer.Errors), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory);
        }
    }
}
