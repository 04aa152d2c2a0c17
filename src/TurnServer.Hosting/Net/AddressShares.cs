using System.Net;

namespace TurnServer.Hosting.Net;

/// <summary>
/// Connections held per client address, each address kept to a share of what a listener offers, so one host cannot
/// hold everything and keep others out. Thread-safe; entries go when their address holds nothing.
/// </summary>
internal sealed class AddressShares
{
    private readonly Lock _sync = new();
    private readonly Dictionary<IPAddress, long> _held = [];

    /// <summary>The share this project gives one address: a quarter of <paramref name="total"/>, at least one.</summary>
    public static long QuarterOf(long total) => Math.Max(1, total / 4);

    /// <summary>Counts one more connection of <paramref name="address"/>; false, counting nothing, when it holds <paramref name="limit"/> already.</summary>
    public bool TryTake(IPAddress address, long limit)
    {
        lock (_sync)
        {
            _held.TryGetValue(address, out long held);
            if (held >= limit)
            {
                return false;
            }

            _held[address] = held + 1;
            return true;
        }
    }

    /// <summary>Gives back a connection taken with <see cref="TryTake"/>.</summary>
    public void Return(IPAddress address)
    {
        lock (_sync)
        {
            if (_held.TryGetValue(address, out long held))
            {
                if (held <= 1)
                {
                    _held.Remove(address);
                }
                else
                {
                    _held[address] = held - 1;
                }
            }
        }
    }
}
