using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace TurnServer.LoadGenerator;

/// <summary>Counts a .NET process's garbage collections by generation over an interval, through EventPipe.</summary>
internal static class GcCounter
{
    /// <summary>
    /// The collections by generation, and every event the session delivered: the runtime's counters are subscribed
    /// too and report each second, so zero events means the session saw nothing and zero collections proves nothing.
    /// </summary>
    public static (int Gen0, int Gen1, int Gen2, int EventsSeen) Count(int pid, TimeSpan duration)
    {
        var client = new DiagnosticsClient(pid);
        EventPipeProvider[] providers =
        [
            new("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, (long)ClrTraceEventParser.Keywords.GC),
            new("System.Runtime", EventLevel.Informational, (long)EventKeywords.None, new Dictionary<string, string> { ["EventCounterIntervalSec"] = "1" }),
        ];
        using EventPipeSession session = client.StartEventPipeSession(providers, requestRundown: false);
        int[] counts = new int[3];
        int events = 0;
        using var source = new EventPipeEventSource(session.EventStream);
        source.AllEvents += _ => Interlocked.Increment(ref events);
        source.Clr.GCStart += e => Interlocked.Increment(ref counts[Math.Clamp(e.Depth, 0, 2)]);
        Task processing = Task.Run(source.Process);
        Thread.Sleep(duration);
        session.Stop();
        processing.Wait(TimeSpan.FromSeconds(10));
        return (counts[0], counts[1], counts[2], Volatile.Read(ref events));
    }
}
