using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace TurnServer.LoadGenerator;

/// <summary>Counts a .NET process's garbage collections by generation over an interval, through EventPipe.</summary>
internal static class GcCounter
{
    public static (int Gen0, int Gen1, int Gen2) Count(int pid, TimeSpan duration)
    {
        var client = new DiagnosticsClient(pid);
        var provider = new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, (long)ClrTraceEventParser.Keywords.GC);
        using EventPipeSession session = client.StartEventPipeSession(provider, requestRundown: false);
        int[] counts = new int[3];
        using var source = new EventPipeEventSource(session.EventStream);
        source.Clr.GCStart += e => Interlocked.Increment(ref counts[Math.Clamp(e.Depth, 0, 2)]);
        Task processing = Task.Run(source.Process);
        Thread.Sleep(duration);
        session.Stop();
        processing.Wait(TimeSpan.FromSeconds(10));
        return (counts[0], counts[1], counts[2]);
    }
}
