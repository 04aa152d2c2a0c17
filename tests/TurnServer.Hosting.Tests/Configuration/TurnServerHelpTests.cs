using TurnServer.Hosting.Configuration;

namespace TurnServer.Hosting.Tests.Configuration;

public class TurnServerHelpTests
{
    private static string[] HelpLines()
    {
        using var writer = new StringWriter();
        TurnServerHelp.Write(writer);
        return writer.ToString().Split(Environment.NewLine);
    }

    [Fact]
    public void Help_starts_with_the_usage_line()
    {
        Assert.Equal("Usage: turnserver [options]", HelpLines()[0]);
    }

    [Fact]
    public void Help_lists_every_option_once_in_table_order_with_its_forms_default_and_support()
    {
        string[] optionLines = [.. HelpLines().SkipWhile(l => l != "Options:").Skip(1).Where(l => l.Length > 0)];

        Assert.Equal(TurnOptionTable.All.Count, optionLines.Length);
        for (int i = 0; i < optionLines.Length; i++)
        {
            TurnOption option = TurnOptionTable.All[i];
            string line = optionLines[i];
            Assert.Contains(option.DisplayName, line, StringComparison.Ordinal);
            if (option.ShortName is { } letter && option.Name is not null)
            {
                // A letter that needs a value its long form does not (-K) shows the value itself.
                string letterValue = option.ShortNameTakesValue && option.Argument != TurnOptionArgument.Required ? " " + option.ValuePlaceholder : "";
                Assert.Contains($"-{letter}{letterValue}, --{option.Name}", line, StringComparison.Ordinal);
            }

            foreach (string alias in option.Aliases)
            {
                Assert.Contains("--" + alias, line, StringComparison.Ordinal);
            }

            Assert.Contains(option.Description, line, StringComparison.Ordinal);
            if (option.DefaultValue is not null)
            {
                Assert.Contains("Default: " + option.DefaultValue + ".", line, StringComparison.Ordinal);
            }

            Assert.Equal(option.Support == TurnOptionSupport.NotYetImplemented, line.EndsWith(TurnServerHelp.NotYetImplementedMark, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Help_shows_values_as_getopt_takes_them()
    {
        string[] lines = HelpLines();

        Assert.Contains(lines, l => l.StartsWith("  -p, --listening-port <port> ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("      --stale-nonce[=<number>] ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  -b, --userdb, --db <file> ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  -c <file> ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  -a, --lt-cred-mech ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  -K <bool>, --keep-address-family ", StringComparison.Ordinal));
    }
}
