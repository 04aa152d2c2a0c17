using BenchmarkDotNet.Attributes;
using TurnServer.Benchmarks.Infrastructure;

namespace TurnServer.Benchmarks.Stun;

/// <summary>The STUN codec: decode and encode of a Binding request and an Allocate success, MESSAGE-INTEGRITY and FINGERPRINT.</summary>
[MemoryDiagnoser]
public class StunCodecBenchmarks
{
    private HotPaths _paths = null!;

    [GlobalSetup]
    public void Setup() => _paths = new HotPaths();

    [Benchmark]
    public bool DecodeBindingRequest() => _paths.DecodeBindingRequest();

    [Benchmark]
    public int EncodeBindingRequest() => _paths.EncodeBindingRequest();

    [Benchmark]
    public bool DecodeAllocateSuccess() => _paths.DecodeAllocateSuccess();

    /// <summary>Includes MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32), as the server signs its answers.</summary>
    [Benchmark]
    public int EncodeAllocateSuccess() => _paths.EncodeAllocateSuccess();

    [Benchmark]
    public bool VerifyMessageIntegrity() => _paths.VerifyMessageIntegrity();

    /// <summary>Parsing checks FINGERPRINT (CRC-32 over the message) when present.</summary>
    [Benchmark]
    public bool VerifyFingerprint() => _paths.VerifyFingerprint();
}
