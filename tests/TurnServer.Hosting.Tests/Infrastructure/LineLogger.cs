using Microsoft.Extensions.Logging;

namespace TurnServer.Hosting.Tests.Infrastructure;

/// <summary>A logger that keeps each line as "Level: message", for tests that assert what was logged.</summary>
internal sealed class LineLogger : ILogger
{
    public List<string> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines)
        {
            Lines.Add(logLevel + ": " + formatter(state, exception));
        }
    }
}
