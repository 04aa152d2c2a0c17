using System.Buffers;
using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// Writes the control characters of text a log line quotes (C0 U+0000-U+001F, DEL U+007F, C1 U+0080-U+009F) as
/// <c>\xNN</c>, and the line separators U+2028 and U+2029 and the bidirectional controls U+202A-U+202E and
/// U+2066-U+2069 as <c>\uNNNN</c>: names and values come from clients (a web-admin login name, a TURN USERNAME or
/// ORIGIN), and a newline among them would forge a log line for whoever reads or parses the file or syslog (fail2ban
/// and the like), a C1 CSI would drive the terminal of an operator reading the CLI's session list, and a bidi override
/// would show it text in another order than it is. The file and syslog sinks write strings as they are
/// (<c>{Message:lj}</c>), so their values are escaped here; <see cref="EscapingConsoleFormatter"/> escapes stdout's lines.
/// </summary>
internal sealed class ControlCharacterEscaper : ILogEventEnricher
{
    private static readonly SearchValues<char> Escaped = SearchValues.Create(
        "\0\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E\x0F\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1A\x1B\x1C\x1D\x1E\x1F\x7F"
        + "\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008A\u008B\u008C\u008D\u008E\u008F"
        + "\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009A\u009B\u009C\u009D\u009E\u009F"
        + "\u2028\u2029\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069");

    /// <inheritdoc />
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? escaped = null;
        foreach ((string name, LogEventPropertyValue value) in logEvent.Properties)
        {
            if (value is ScalarValue { Value: string text } && NeedsEscaping(text))
            {
                (escaped ??= []).Add(new LogEventProperty(name, new ScalarValue(Escape(text))));
            }
        }

        foreach (LogEventProperty property in escaped ?? [])
        {
            logEvent.AddOrUpdateProperty(property);
        }
    }

    /// <summary>
    /// <paramref name="text"/> with each character listed above written as <c>\xNN</c> (up to U+00FF) or <c>\uNNNN</c>
    /// (upper-case hex digits).
    /// </summary>
    internal static string Escape(string text)
    {
        if (!NeedsEscaping(text))
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (!Escaped.Contains(c))
            {
                escaped.Append(c);
            }
            else if (c <= '\xFF')
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
        }

        return escaped.ToString();
    }

    private static bool NeedsEscaping(string text) => text.AsSpan().ContainsAny(Escaped);
}
