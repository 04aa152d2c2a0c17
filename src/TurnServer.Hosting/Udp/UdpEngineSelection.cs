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
    public const string Variable = "TURN_UDP_ENGINE";

    public const string WorkersVariable = "TURN_UDP_WORKERS";

    /// <summary>Worker threads for the Linux engine; 0 means one per core.</summary>
    public static int Workers => int.TryParse(Environment.GetEnvironmentVariable(WorkersVariable), out int workers) && workers > 0 ? workers : 0;

    public const string OffloadVariable = "TURN_UDP_GSO";

    /// <summary>False when <c>TURN_UDP_GSO=off</c>.</summary>
    public static bool UseSegmentationOffload => !string.Equals(Environment.GetEnvironmentVariable(OffloadVariable), "off", StringComparison.OrdinalIgnoreCase);

    public static bool UseLinuxEngine =>
        Libc.IsSupported && !string.Equals(Environment.GetEnvironmentVariable(Variable), "portable", StringComparison.OrdinalIgnoreCase);
}
