using System.Net;
using Microsoft.Extensions.Logging;
using TurnServer.Hosting.Udp.Linux;

namespace TurnServer.Hosting.Net;

/// <summary>
/// The descriptors clients may hold: accepted TCP and TLS connections, UDP relay sockets, RFC 6062 relay listeners
/// and peer connections, one each. The .NET runtime needs descriptors of its own at any moment (two for each assembly it
/// loads, a pipe for each thread it starts) and aborts the process ("Out of memory.") when it cannot have one, so
/// clients must never bring the process to its RLIMIT_NOFILE: past the budget a connection is closed as soon as it is
/// accepted, an Allocate gets 508 and an RFC 6062 Connect 447, until clients give descriptors back.
/// </summary>
public sealed partial class DescriptorBudget
{
    private readonly ILogger _logger;
    private readonly AddressShares _connections = new();
    private long _inUse;
    private long _refused;
    private long _refusedPerAddress;
    private int _exhausted;

    /// <summary>A budget of <paramref name="capacity"/> descriptors, logging when it runs out and when it has room again.</summary>
    public DescriptorBudget(long capacity, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>How many descriptors clients may hold at once.</summary>
    public long Capacity { get; }

    /// <summary>How many they hold now.</summary>
    public long InUse => Volatile.Read(ref _inUse);

    /// <summary>Connections closed on accept and relays refused since start, because the budget was spent.</summary>
    public long Refused => Volatile.Read(ref _refused);

    /// <summary>
    /// The most TCP and TLS client connections one address (an IPv6 address's /64) may hold: a quarter of
    /// <see cref="Capacity"/> (at least one), so a single host that opens connections and never allocates cannot
    /// spend what every transport's clients share, while many clients behind one NAT still fit.
    /// </summary>
    public long ConnectionsPerAddress => AddressShares.QuarterOf(Capacity);

    /// <summary>
    /// Connections closed on accept (behind a PROXY protocol load balancer, once the header named their client) since
    /// start because their address held <see cref="ConnectionsPerAddress"/> already.
    /// </summary>
    public long RefusedPerAddress => Volatile.Read(ref _refusedPerAddress);

    /// <summary>
    /// Takes one descriptor for a client connection from <paramref name="address"/>: false (counted) when the budget
    /// is spent or that address holds <see cref="ConnectionsPerAddress"/> already. Give it back with
    /// <see cref="ReturnConnection"/>.
    /// </summary>
    public bool TryTakeConnection(IPAddress address)
    {
        if (!TryTakeShare(address))
        {
            return false;
        }

        if (!TryTake())
        {
            ReturnShare(address);
            return false;
        }

        return true;
    }

    /// <summary>Gives back a descriptor taken with <see cref="TryTakeConnection"/> for <paramref name="address"/>.</summary>
    public void ReturnConnection(IPAddress address)
    {
        ReturnShare(address);
        Return();
    }

    /// <summary>
    /// Counts one more client connection of <paramref name="address"/> against <see cref="ConnectionsPerAddress"/>
    /// without taking a descriptor, for a connection whose descriptor was taken before its client was known (behind a
    /// PROXY protocol load balancer); false (counted) when the address holds its share already. Give it back with
    /// <see cref="ReturnShare"/>.
    /// </summary>
    public bool TryTakeShare(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!_connections.TryTake(address, ConnectionsPerAddress))
        {
            Interlocked.Increment(ref _refusedPerAddress);
            return false;
        }

        return true;
    }

    /// <summary>Gives back a share taken with <see cref="TryTakeShare"/> for <paramref name="address"/>.</summary>
    public void ReturnShare(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        _connections.Return(address);
    }

    /// <summary>
    /// The budget of this process on Linux: raises the soft RLIMIT_NOFILE to the hard one, as coTURN does, then leaves
    /// for clients what is neither open now nor reserved for the runtime and the server's own later needs (listeners,
    /// databases, the metrics and CLI servers, assemblies loaded on first use): 128 descriptors plus 1/32 of the limit.
    /// Elsewhere, or with no limit, the budget is unbounded.
    /// </summary>
    public static unsafe DescriptorBudget ForThisProcess(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ulong* limits = stackalloc ulong[2];
        if (!OperatingSystem.IsLinux() || Libc.getrlimit(Libc.RLIMIT_NOFILE, limits) != 0)
        {
            return new DescriptorBudget(long.MaxValue, logger);
        }

        ulong soft = limits[0];
        if (soft < limits[1])
        {
            limits[0] = limits[1];
            if (Libc.setrlimit(Libc.RLIMIT_NOFILE, limits) == 0)
            {
                LogLimitRaised(logger, soft, limits[1]);
                soft = limits[1];
            }
        }

        if (soft > long.MaxValue)
        {
            return new DescriptorBudget(long.MaxValue, logger);
        }

        long open = Directory.GetFileSystemEntries("/proc/self/fd").Length;
        long reserve = 128 + ((long)soft / 32);
        var budget = new DescriptorBudget(Math.Max(0, (long)soft - open - reserve), logger);
        LogBudget(logger, soft, open, reserve, budget.Capacity);
        return budget;
    }

    /// <summary>Takes one descriptor for a client; false (counted, and logged once per shortage) when none is left.</summary>
    public bool TryTake()
    {
        if (Interlocked.Increment(ref _inUse) <= Capacity)
        {
            return true;
        }

        Interlocked.Decrement(ref _inUse);
        Interlocked.Increment(ref _refused);
        if (Interlocked.Exchange(ref _exhausted, 1) == 0)
        {
            LogExhausted(_logger, Capacity);
        }

        return false;
    }

    /// <summary>
    /// Gives back a descriptor taken with <see cref="TryTake"/>, once its socket is closed. A shortage is over (and
    /// logged so) once a tenth of the budget is free again, not at the first descriptor back: a budget held at its
    /// edge by clients that come and go would otherwise log a pair of lines for each of them.
    /// </summary>
    public void Return()
    {
        long inUse = Interlocked.Decrement(ref _inUse);
        if (Volatile.Read(ref _exhausted) != 0 && inUse <= Capacity - Math.Max(1, Capacity / 10) && Interlocked.Exchange(ref _exhausted, 0) != 0)
        {
            LogRecovered(_logger);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Open files limit raised from {Soft} to {Hard}")]
    private static partial void LogLimitRaised(ILogger logger, ulong soft, ulong hard);

    [LoggerMessage(Level = LogLevel.Information, Message = "Open files limit {Limit}: {Open} open at start, {Reserve} kept for the server, {Capacity} for client connections and relay sockets")]
    private static partial void LogBudget(ILogger logger, ulong limit, long open, long reserve, long capacity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Out of descriptors for clients (all {Capacity} in use): new connections are closed and Allocate answered 508 until some are freed; raise LimitNOFILE or ulimit -n")]
    private static partial void LogExhausted(ILogger logger, long capacity);

    [LoggerMessage(Level = LogLevel.Information, Message = "Descriptors for clients are free again")]
    private static partial void LogRecovered(ILogger logger);
}
