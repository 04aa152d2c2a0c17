using System.Text;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// coTURN's <c>new-log-timestamp-format</c> is a strftime(3) format; .NET formats dates with its own patterns. This turns
/// the common strftime conversions into a .NET custom format string: <c>%Y %y %m %d %e %H %I %M %S %p %b %B %a %A %j
/// %F %T %D %R %z %Z %%</c>, other text literally. coTURN's default (with <c>new-log-timestamp</c>) is <c>%FT%T%z</c>.
/// </summary>
public static class LogTimestampFormat
{
    /// <summary>coTURN's default ISO-8601 format.</summary>
    public const string CoturnDefault = "%FT%T%z";

    /// <summary>The .NET equivalent of <paramref name="strftime"/>; false, with the offending conversion, when one is not supported.</summary>
    public static bool TryConvert(string strftime, out string dotnet, out string? unsupported)
    {
        ArgumentNullException.ThrowIfNull(strftime);
        var format = new StringBuilder();
        unsupported = null;
        for (int i = 0; i < strftime.Length; i++)
        {
            char c = strftime[i];
            if (c != '%')
            {
                AppendLiteral(format, c);
                continue;
            }

            if (++i == strftime.Length)
            {
                unsupported = "%";
                break;
            }

            string? pattern = strftime[i] switch
            {
                'Y' => "yyyy",
                'y' => "yy",
                'm' => "MM",
                'd' => "dd",
                'e' => "%d",
                'H' => "HH",
                'I' => "hh",
                'M' => "mm",
                'S' => "ss",
                'p' => "tt",
                'b' or 'h' => "MMM",
                'B' => "MMMM",
                'a' => "ddd",
                'A' => "dddd",
                'F' => "yyyy-MM-dd",
                'T' => "HH:mm:ss",
                'D' => "MM/dd/yy",
                'R' => "HH:mm",
                'z' => "zzz",
                'Z' => "zzz",
                '%' => "\\%",
                _ => null,
            };
            if (pattern is null)
            {
                unsupported = "%" + strftime[i];
                break;
            }

            // A lone single-letter custom pattern needs a leading % in .NET; inside a longer pattern it must not have one.
            format.Append(pattern.StartsWith('%') && (format.Length > 0 || i + 1 < strftime.Length) ? pattern[1..] : pattern);
        }

        dotnet = format.ToString();
        return unsupported is null;
    }

    private static void AppendLiteral(StringBuilder format, char c)
    {
        if (char.IsAsciiLetter(c) || c is '\\' or '"' or '\'' or '%' or ':' or '/')
        {
            format.Append('\\');
        }

        format.Append(c);
    }
}
