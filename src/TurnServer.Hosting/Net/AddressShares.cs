using System.Net;
using System.Threading.RateLimiting;
using TurnServer.Stun;

namespace TurnServer.Hosting.Net;

/// <summary>
/// Connections held per client address, each address kept to a share of what a listener offers, so one host cannot
/// hold everything and keep others out. An IPv6 address holds its share by its /64 (see <see cref="KeyOf"/>).
/// Thread-safe; entries go when their address holds nothing.
/// </summary>
internal sealed class AddressShares
{
    private readonly Lock _sync = new();
    private readonly Dictionary<TransportAddress, long> _held = [];

    /// <summary>The share this project gives one address: a quarter of <paramref name="total"/>, at least one.</summary>
    public static long QuarterOf(long total) => Math.Max(1, total / 4);

    /// <summary>
    /// What a share is held by, the port dropped: an IPv4 address itself (IPv4-mapped or not), an IPv6 address its
    /// /64, the smallest prefix a host or site is given (RFC 6177), from which it may pick any source address it likes.
    /// </summary>
    public static TransportAddress KeyOf(in TransportAddress address)
    {
        if (!address.IsIPv6)
        {
            return address.WithPort(0);
        }

        Span<byte> bytes = stackalloc byte[16];
        address.WriteAddressBytes(bytes);
        bytes[8..].Clear();
        return TransportAddress.FromBytes(bytes, 0);
    }

    /// <summary>
    /// A limiter letting each client address make <paramref name="permitsPerMinute"/> attempts a minute (fixed
    /// windows, no queue), addresses counted as <see cref="KeyOf"/> counts them: an IPv6 host cannot get more tries by
    /// changing its address within its /64.
    /// </summary>
    public static PartitionedRateLimiter<IPAddress> PerMinute(int permitsPerMinute) =>
        PartitionedRateLimiter.Create<IPAddress, TransportAddress>(client => RateLimitPartition.GetFixedWindowLimiter(KeyOf(new TransportAddress(client, 0)), _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = permitsPerMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));

    /// <summary>Counts one more connection of <paramref name="address"/>; false, counting nothing, when it holds <paramref name="limit"/> already.</summary>
    public bool TryTake(IPAddress address, long limit)
    {
        TransportAddress key = KeyOf(new TransportAddress(address, 0));
        lock (_sync)
        {
            _held.TryGetValue(key, out long held);
            if (held >= limit)
            {
                return false;
            }

            _held[key] = held + 1;
            return true;
        }
    }

    /// <summary>Gives back a connection taken with <see cref="TryTake"/>.</summary>
    public void Return(IPAddress address)
    {
        TransportAddress key = KeyOf(new TransportAddress(address, 0));
        lock (_sync)
        {
            if (_held.TryGetValue(key, out long held))
            {
                if (held <= 1)
                {
                    _held.Remove(key);
                }
                else
                {
                    _held[key] = held - 1;
                }
            }
        }
    }
}
