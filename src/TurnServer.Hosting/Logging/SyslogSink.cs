using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// coTURN's <c>syslog</c> (and <c>log-file=syslog</c>): each event as one datagram to the local syslog socket
/// (<c>/dev/log</c>, which journald and rsyslog serve) in the BSD format glibc's syslog(3) uses:
/// <c>&lt;PRI&gt;Mmm dd hh:mm:ss turnserver[pid]: message</c>, PRI = facility * 8 + severity (RFC 5424 section 6.2.1).
/// When no syslog daemon listens, events are dropped: logging must never stop the server.
/// </summary>
internal sealed class SyslogSink : ILogEventSink, IDisposable
{
    /// <summary>The local syslog socket.</summary>
    public const string DefaultSocket = "/dev/log";

    // coTURN's syslog-facility names (ns_turn_utils.c) with their syslog.h codes; matched case-insensitively, LOG_ optional.
    private static readonly Dictionary<string, int> Facilities = new(StringComparer.OrdinalIgnoreCase)
    {
        ["KERN"] = 0, ["USER"] = 1, ["MAIL"] = 2, ["DAEMON"] = 3, ["AUTH"] = 4, ["SYSLOG"] = 5, ["LPR"] = 6, ["NEWS"] = 7,
        ["UUCP"] = 8, ["CRON"] = 9, ["AUTHPRIV"] = 10, ["LOCAL0"] = 16, ["LOCAL1"] = 17, ["LOCAL2"] = 18, ["LOCAL3"] = 19,
        ["LOCAL4"] = 20, ["LOCAL5"] = 21, ["LOCAL6"] = 22, ["LOCAL7"] = 23,
    };

    private readonly int _facility;
    private readonly string _tag;
    private readonly ITextFormatter _formatter;
    private readonly UnixDomainSocketEndPoint _endPoint;
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly Lock _sync = new();

    /// <summary>
    /// Sends to <paramref name="socketPath"/> with <paramref name="facility"/> (a syslog.h code, see
    /// <see cref="TryParseFacility"/>), tagged <c>turnserver[pid]</c>.
    /// </summary>
    public SyslogSink(int facility, ITextFormatter formatter, string socketPath = DefaultSocket)
    {
        _facility = facility;
        _formatter = formatter;
        _endPoint = new UnixDomainSocketEndPoint(socketPath);
        _tag = "turnserver[" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "]: ";
    }

    /// <summary>coTURN's default: LOG_USER, as syslog(3) uses when no facility is given.</summary>
    public const int DefaultFacility = 1;

    /// <summary>Reads a <c>syslog-facility</c> value (<c>LOG_LOCAL0</c>, <c>local0</c>, ...).</summary>
    public static bool TryParseFacility(string text, out int facility)
    {
        ArgumentNullException.ThrowIfNull(text);
        string name = text.StartsWith("LOG_", StringComparison.OrdinalIgnoreCase) ? text[4..] : text;
        return Facilities.TryGetValue(name, out facility);
    }

    /// <summary>syslog severity (RFC 5424 section 6.2.1) for a Serilog level.</summary>
    public static int Severity(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal => 2,
        LogEventLevel.Error => 3,
        LogEventLevel.Warning => 4,
        LogEventLevel.Information => 6,
        _ => 7,
    };

    /// <inheritdoc />
    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        _formatter.Format(logEvent, text);
        DateTime local = logEvent.Timestamp.LocalDateTime;
        string line = string.Create(
            CultureInfo.InvariantCulture,
            $"<{(_facility * 8) + Severity(logEvent.Level)}>{local.ToString("MMM", CultureInfo.InvariantCulture)} {local.Day,2} {local:HH:mm:ss} {_tag}{text.ToString().TrimEnd('\n', '\r')}");
        lock (_sync)
        {
            try
            {
                _socket.SendTo(Encoding.UTF8.GetBytes(line), _endPoint);
            }
            catch (SocketException)
            {
                // No syslog daemon (a container without /dev/log): drop rather than fail the caller.
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _socket.Dispose();
}
