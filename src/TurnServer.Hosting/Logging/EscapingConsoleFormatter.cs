using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// The stdout line, in SimpleConsole's single-line layout (<c>2026-01-31 07:08:09 info: Category[0] message</c>, no
/// colours), with the message and exception written through <see cref="ControlCharacterEscaper"/> as the file and
/// syslog lines are: SimpleConsole replaces only the newline, so a CR, an escape sequence or U+2028 in a client's
/// USERNAME or ORIGIN reached <c>docker logs</c> and <c>kubectl logs</c> as it was. Newlines still become spaces.
/// </summary>
internal sealed class EscapingConsoleFormatter : ConsoleFormatter
{
    /// <summary>The name the console logger is told to use (<see cref="ConsoleLoggerOptions.FormatterName"/>).</summary>
    public const string FormatterName = "turnserver";

    private readonly string? _timestampFormat;
    private readonly bool _utc;

    /// <summary>Starts each line with the time in <paramref name="timestampFormat"/> (none if null), UTC or local.</summary>
    public EscapingConsoleFormatter(string? timestampFormat, bool utc)
        : base(FormatterName)
    {
        _timestampFormat = timestampFormat;
        _utc = utc;
    }

    /// <inheritdoc />
    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string? message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        if (_timestampFormat is not null)
        {
            DateTimeOffset now = _utc ? DateTimeOffset.UtcNow : DateTimeOffset.Now;
            textWriter.Write(now.ToString(_timestampFormat, CultureInfo.InvariantCulture));
        }

        textWriter.Write(Level(logEntry.LogLevel));
        textWriter.Write(": ");
        textWriter.Write(logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id.ToString(CultureInfo.InvariantCulture));
        textWriter.Write("] ");
        textWriter.Write(OneLine(message ?? string.Empty));
        if (logEntry.Exception is { } exception)
        {
            textWriter.Write(' ');
            textWriter.Write(OneLine(exception.ToString()));
        }

        textWriter.Write('\n');
    }

    private static string OneLine(string text) => ControlCharacterEscaper.Escape(text.Replace('\n', ' '));

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };
}
