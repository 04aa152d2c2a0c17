using Serilog.Core;
using Serilog.Events;

namespace TurnServer.Hosting.Logging;

/// <summary>
/// Adds <c>UtcTimestamp</c>, the event's time in UTC, for the log file's default timestamp: Serilog renders
/// <c>{Timestamp}</c> in local time, and this Serilog version has no UTC token of its own.
/// </summary>
internal sealed class UtcTimestampEnricher : ILogEventEnricher
{
    /// <summary>The property's name, for output templates.</summary>
    public const string PropertyName = "UtcTimestamp";

    /// <inheritdoc />
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory) =>
        logEvent.AddPropertyIfAbsent(new LogEventProperty(PropertyName, new ScalarValue(logEvent.Timestamp.UtcDateTime)));
}
