using BenchmarkDotNet.Attributes;
using TurnServer.Benchmarks.Infrastructure;

namespace TurnServer.Benchmarks.Relay;

/// <summary>
/// The relay path with 10,000 live allocations (each with a permission and a channel), from datagram in to datagram
/// queued for sendmmsg, without the system calls; and the lookups it makes.
/// </summary>
[MemoryDiagnoser]
public class RelayPathBenchmarks
{
    private HotPaths _paths = null!;

    [Params(160, 1200)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup() => _paths = new HotPaths(PayloadSize);

    [Benchmark]
    public bool ChannelDataClientToPeer() => _paths.ChannelDataClientToPeer();

    [Benchmark]
    public int SendIndicationClientToPeer() => _paths.SendIndicationClientToPeer();

    [Benchmark]
    public bool PeerToClientChannelData() => _paths.PeerToClient();

    [Benchmark]
    public bool FiveTupleLookup() => _paths.FiveTupleLookup();
}
