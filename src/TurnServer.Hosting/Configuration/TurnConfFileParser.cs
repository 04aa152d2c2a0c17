namespace TurnServer.Hosting.Configuration;

/// <summary>
/// Reads turnserver.conf the way coTURN's <c>read_config_file</c> does: one option per line; leading blanks skipped;
/// a line whose first non-blank character is <c>#</c> is a comment (there are no trailing comments); trailing white
/// space, CR included, is dropped; the name ends at the first space, tab or <c>=</c>, and any run of those characters
/// separates it from the value (<c>name=value</c>, <c>name value</c>, <c>name = value</c>); a bare name is a flag;
/// a value starting with <c>"</c> loses that quote and one closing quote. Names are case-sensitive.
/// </summary>
internal static class TurnConfFileParser
{
    private static readonly char[] Separators = [' ', '=', '\t'];

    /// <summary>Reads and parses a file; a file that cannot be read becomes an error, not an exception.</summary>
    public static TurnConfigurationLayer ParseFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var layer = new TurnConfigurationLayer();
            layer.Errors.Add($"{path}: cannot read the configuration file: {e.Message}");
            return layer;
        }

        return Parse(text, path);
    }

    /// <summary>Parses turnserver.conf text; <paramref name="path"/> names the file in origins and messages.</summary>
    public static TurnConfigurationLayer Parse(string text, string path)
    {
        var layer = new TurnConfigurationLayer();
        string[] lines = text.TrimStart('\uFEFF').Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string origin = path + ":" + (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            string line = lines[i].TrimStart(' ', '\t');
            if (line.StartsWith('#'))
            {
                continue;
            }

            line = line.TrimEnd();
            if (line.Length == 0)
            {
                continue;
            }

            int end = line.IndexOfAny(Separators);
            string name = end < 0 ? line : line[..end];
            string value = end < 0 ? "" : Unquote(line[end..].TrimStart(Separators));
            if (!TurnOptionTable.TryFindByName(name, out TurnOption? option))
            {
                layer.Warnings.Add($"{origin}: unknown option '{name}' ignored");
            }
            else if (option.CommandLineOnly)
            {
                layer.Warnings.Add($"{origin}: option '{name}' is only valid on the command line; ignored");
            }
            else
            {
                // A number's ';' is warned about where it is dropped (TurnServerSettingsBinder), as atoi drops it in coTURN.
                if (line.EndsWith(';') && option.ValueKind is not (TurnOptionValueKind.Integer or TurnOptionValueKind.Port))
                {
                    layer.Warnings.Add($"{origin}: the line ends with ';', which is taken as part of the value");
                }

                layer.Add(option, value, origin);
            }
        }

        return layer;
    }

    private static string Unquote(string value)
    {
        if (!value.StartsWith('"'))
        {
            return value;
        }

        value = value[1..].TrimEnd();
        return value.EndsWith('"') ? value[..^1] : value;
    }
}
