namespace TurnServer.Hosting.Configuration;

/// <summary>What the command line asked for besides option values.</summary>
internal sealed class TurnCommandLine
{
    /// <summary>The option values given, with the parser's warnings and errors.</summary>
    public TurnConfigurationLayer Layer { get; } = new();

    /// <summary>The <c>-c</c> file name as given, if any.</summary>
    public string? ConfigFile { get; set; }

    /// <summary><c>-n</c>: read no configuration file.</summary>
    public bool NoConfigFile { get; set; }

    /// <summary><c>-h</c> or <c>--help</c> was given.</summary>
    public bool HelpRequested { get; set; }

    /// <summary><c>--version</c> was given.</summary>
    public bool VersionRequested { get; set; }
}

/// <summary>
/// Parses coTURN's command line with GNU <c>getopt_long</c> semantics: <c>--name=value</c>; <c>--name value</c> for
/// options that need a value; options whose value is optional take it only after <c>=</c>; unambiguous prefixes of
/// long names; <c>-p 3478</c>, <c>-p3478</c> and bundled flags (<c>-af</c>); <c>--</c> ends the options; other words
/// are ignored with a warning, as coTURN does after logging them.
/// </summary>
internal static class TurnCommandLineParser
{
    /// <summary>Parses <paramref name="args"/> (without the program name); never throws: problems go to the layer's warnings and errors.</summary>
    public static TurnCommandLine Parse(IReadOnlyList<string> args)
    {
        var result = new TurnCommandLine();
        List<string> warnings = result.Layer.Warnings;
        bool optionsEnded = false;
        string? previousBareOptional = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string? bareOptional = null;
            if (optionsEnded || arg.Length < 2 || arg[0] != '-')
            {
                warnings.Add(previousBareOptional is null
                    ? $"command line: unexpected argument '{arg}' ignored"
                    : $"command line: unexpected argument '{arg}' ignored; {previousBareOptional} takes a value only as {previousBareOptional}={arg}");
            }
            else if (arg == "--")
            {
                optionsEnded = true;
            }
            else if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                bareOptional = ParseLong(args, ref i, result);
            }
            else
            {
                ParseShortGroup(args, ref i, result);
            }

            previousBareOptional = bareOptional;
        }

        return result;
    }

    // Returns the option as written when it takes an optional (non-flag) value and got none, to hint at a stray next argument.
    private static string? ParseLong(IReadOnlyList<string> args, ref int i, TurnCommandLine result)
    {
        string arg = args[i];
        int equals = arg.IndexOf('=', StringComparison.Ordinal);
        string name = equals < 0 ? arg[2..] : arg[2..equals];
        string? value = equals < 0 ? null : arg[(equals + 1)..];
        if (!TryResolveLong(name, result.Layer.Warnings, out TurnOption? option))
        {
            return null;
        }

        string written = "--" + name;
        switch (option.Argument)
        {
            case TurnOptionArgument.Required when value is null:
                if (i + 1 >= args.Count)
                {
                    result.Layer.Errors.Add($"command line: option '{written}' requires a value");
                    return null;
                }

                value = args[++i];
                break;
            case TurnOptionArgument.None when value is not null:
                result.Layer.Warnings.Add($"command line: option '{written}' takes no value; '{value}' ignored");
                break;
        }

        Apply(option, value ?? "", "command line (" + written + ")", result);
        bool bareValueOption = option.Argument == TurnOptionArgument.Optional && value is null && option.ValueKind != TurnOptionValueKind.Boolean;
        return bareValueOption ? written : null;
    }

    private static bool TryResolveLong(string name, List<string> warnings, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TurnOption? option)
    {
        if (TurnOptionTable.TryFindByName(name, out option))
        {
            return true;
        }

        // getopt_long accepts any prefix that names one option (aliases of one option count once).
        List<KeyValuePair<string, TurnOption>> matches = name.Length == 0
            ? []
            : TurnOptionTable.LongNames.Where(n => n.Key.StartsWith(name, StringComparison.Ordinal)).ToList();
        List<TurnOption> distinct = matches.Select(m => m.Value).Distinct().ToList();
        if (distinct.Count == 1)
        {
            option = distinct[0];
            return true;
        }

        warnings.Add(distinct.Count == 0
            ? $"command line: unknown option '--{name}' ignored"
            : $"command line: ambiguous option '--{name}' ignored (it could be {string.Join(", ", matches.Select(m => "--" + m.Key).Order(StringComparer.Ordinal))})");
        option = null;
        return false;
    }

    private static void ParseShortGroup(IReadOnlyList<string> args, ref int i, TurnCommandLine result)
    {
        string arg = args[i];
        for (int j = 1; j < arg.Length; j++)
        {
            string written = "-" + arg[j];
            if (!TurnOptionTable.TryFindByShortName(arg[j], out TurnOption? option))
            {
                result.Layer.Warnings.Add($"command line: unknown option '{written}' ignored");
                continue;
            }

            if (!option.ShortNameTakesValue)
            {
                Apply(option, "", "command line (" + written + ")", result);
                continue;
            }

            // A value-taking letter consumes the rest of the word, or else the next argument.
            string value;
            if (j + 1 < arg.Length)
            {
                value = arg[(j + 1)..];
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                result.Layer.Errors.Add($"command line: option '{written}' requires a value");
                return;
            }

            if (value.StartsWith('='))
            {
                result.Layer.Warnings.Add($"command line: the value of '{written}' starts with '='; short options take it as '{written} value'");
            }

            Apply(option, value, "command line (" + written + ")", result);
            return;
        }
    }

    private static void Apply(TurnOption option, string value, string origin, TurnCommandLine result)
    {
        if (!option.CommandLineOnly)
        {
            result.Layer.Add(option, value, origin);
            return;
        }

        switch (option.Name ?? option.ShortName.ToString())
        {
            case "c":
                result.ConfigFile = value;
                break;
            case "n":
                result.NoConfigFile = true;
                break;
            case "help":
                result.HelpRequested = true;
                break;
            case "version":
                result.VersionRequested = true;
                break;
        }
    }
}
