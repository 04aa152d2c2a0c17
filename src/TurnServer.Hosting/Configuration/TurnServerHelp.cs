namespace TurnServer.Hosting.Configuration;

/// <summary>Writes the <c>--help</c> text: every option of <see cref="TurnOptionTable"/>, in coTURN's order.</summary>
public static class TurnServerHelp
{
    /// <summary>The mark after the description of options TurnServer accepts but does not implement yet.</summary>
    public const string NotYetImplementedMark = "[not yet implemented]";

    private const int DescriptionColumn = 44;

    /// <summary>Writes the usage line and one entry per option: short form, long form, value, description, default.</summary>
    public static void Write(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine("Usage: turnserver [options]");
        writer.WriteLine();
        writer.WriteLine("Options are read from turnserver.conf ('name=value' or a bare 'name' per line), then from");
        writer.WriteLine($"{TurnServerConfigLoader.EnvironmentPrefix}<NAME> environment variables, then from the command line.");
        writer.WriteLine("Flags take an optional value: --name=0/1, yes/no, true/false, on/off (as in coTURN, the first letter decides).");
        writer.WriteLine($"Options marked {NotYetImplementedMark} are accepted with a warning and have no effect.");
        writer.WriteLine();
        writer.WriteLine("Options:");
        foreach (TurnOption option in TurnOptionTable.All)
        {
            string usage = Usage(option);
            writer.Write(usage.Length < DescriptionColumn ? usage.PadRight(DescriptionColumn) : usage + " ");
            writer.Write(option.Description);
            if (option.DefaultValue is not null)
            {
                writer.Write(" Default: " + option.DefaultValue + ".");
            }

            if (option.Support == TurnOptionSupport.NotYetImplemented)
            {
                writer.Write(" " + NotYetImplementedMark);
            }

            writer.WriteLine();
        }
    }

    // "  -p, --listening-port <port>", "      --stale-nonce[=<number>]", "  -c <file>", "  -K <bool>, --keep-address-family"
    private static string Usage(TurnOption option)
    {
        // The value after the long name stands for both forms; a letter that needs one where the long form does not (-K) shows its own.
        string letterValue = option.ShortNameTakesValue && option.Argument != TurnOptionArgument.Required ? " " + option.ValuePlaceholder : "";
        string names = (option.ShortName, option.Name) switch
        {
            ({ } letter, { } name) => $"-{letter}{letterValue}, --{name}",
            ({ } letter, null) => $"-{letter}{letterValue}",
            _ => "    --" + option.Name,
        };
        foreach (string alias in option.Aliases)
        {
            names += ", --" + alias;
        }

        string value = option.Argument switch
        {
            TurnOptionArgument.Required => " " + option.ValuePlaceholder,
            TurnOptionArgument.Optional when option.ValueKind != TurnOptionValueKind.Boolean && !option.CommandLineOnly => "[=" + option.ValuePlaceholder + "]",
            _ => "",
        };
        return "  " + names + value;
    }
}
