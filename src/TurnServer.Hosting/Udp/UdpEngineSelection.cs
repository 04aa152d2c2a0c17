using TurnServer.Hosting.Udp.Linux;

namespace TurnServer.Hosting.Udp;

/// <summary>
/// Which UDP engine runs: the Linux one (epoll, recvmmsg/sendmmsg, SO_REUSEPORT) where its system call layouts are
/// known, else the portable one (a .NET Socket and an async receive loop per socket). The environment variable
/// <c>TURN_UDP_ENGINE=portable</c> forces the portable engine, so the two can be compared on one machine;
/// <c>TURN_UDP_WORKERS=N</c> sets the Linux engine's worker threads (default: one per core), and
/// <c>TURN_UDP_GSO=off</c> turns its segmentation offload off (benchmarks/load/run.sh --engines compares them).
/// </summary>
internal static class UdpEngineSelection
{
    /// <summary>
    /// Environment variable choosing the engine: <c>portable</c> forces the portable one; anything else, or unset, the Linux one
    /// where supported.
    /// </summary>
    public const string Variable = "TURN_UDP_ENGINE";

    /// <summary>Environment variable with the Linux engine's worker thread count (a positive integer).</summary>
    public const string WorkersVariable = "TURN_UDP_WORKERS";

    /// <summary>Worker threads for the Linux engine; 0 means one per core.</summary>
    public static int Workers => int.TryParse(Environment.GetEnvironmentVariable(WorkersVariable), out int workers) && workers > 0 ? workers : 0;

    /// <summary>Environment variable turning the Linux engine's UDP segmentation offload off with <c>off</c>.</summary>
    public const string OffloadVariable = "TURN_UDP_GSO";

    /// <summary>False when <c>TURN_UDP_GSO=off</c>.</summary>
    public static bool UseSegmentationOffload => !string.Equals(Environment.GetEnvironmentVariable(OffloadVariable), "off", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <see cref="Libc.IsSupported"/> (Linux on x86-64 or arm64) and <c>TURN_UDP_ENGINE</c> is not <c>portable</c>.</summary>
    public static bool UseLinuxEngine =>
        Libc.IsSupported && !string.Equals(Environment.GetEnvironmentVariable(Variable), "portable", StringComparison.OrdinalIgnoreCase);
}
