using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// Writes the control characters (U+0000-U+001F, U+007F) of text a log line quotes as <c>\xNN</c>: names and values
/// come from clients (a web-admin login name, a TURN USERNAME), and a newline among them would forge a log line for
/// whoever reads or parses the file or syslog (fail2ban and the like). The file and syslog sinks write strings as
/// they are (<c>{Message:lj}</c>); the console logger already writes one line per event.
/// </summary>
internal sealed class ControlCharacterEscaper : ILogEventEnricher
{
    /// <inheritdoc />
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? escaped = null;
        foreach ((string name, LogEventPropertyValue value) in logEvent.Properties)
        {
            if (value is ScalarValue { Value: string text } && HasControlCharacter(text))
            {
                (escaped ??= []).Add(new LogEventProperty(name, new ScalarValue(Escape(text))));
            }
        }

        foreach (LogEventProperty property in escaped ?? [])
        {
            logEvent.AddOrUpdateProperty(property);
        }
    }

    /// <summary><paramref name="text"/> with each control character written as <c>\xNN</c> (two upper-case hex digits).</summary>
    internal static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (char.IsControl(c) && c <= '\x7F')
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                escaped.Append(c);
            }
        }

        return escaped.ToString();
    }

    private static bool HasControlCharacter(string text) => text.AsSpan().IndexOfAnyInRange('\0', '\x1F') >= 0 || text.Contains('\x7F', StringComparison.Ordinal);
}
