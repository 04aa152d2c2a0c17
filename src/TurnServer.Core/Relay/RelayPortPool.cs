using System.Security.Cryptography;

namespace TurnServer.Core.Relay;

/// <summary>
/// The relay ports min-port..max-port (RFC 8656 section 7.2 asks for random choice, per RFC 6056). An indexed free
/// list: taking a random free port, a specific port, or releasing one are O(1); looking for an even port with a free
/// successor (EVEN-PORT) is O(free ports). When no port is free every take fails at once, so the server answers 508.
/// Thread-safe.
/// </summary>
public sealed class RelayPortPool
{
    private readonly Lock _sync = new();
    private readonly int _min;
    private readonly int[] _free;
    private readonly int[] _indexOf; // position of port - min in _free, or -1 when taken
    private readonly Dictionary<int, long> _quarantined = [];
    private int _count;

    /// <summary>Creates a pool of the ports <paramref name="minPort"/>..<paramref name="maxPort"/>, all free.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The bounds are outside 1..65535 or reversed.</exception>
    public RelayPortPool(int minPort, int maxPort)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPort, 65535);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minPort, maxPort);
        _min = minPort;
        int size = maxPort - minPort + 1;
        _free = new int[size];
        _indexOf = new int[size];
        for (int i = 0; i < size; i++)
        {
            _free[i] = minPort + i;
            _indexOf[i] = i;
        }

        _count = size;
    }

    /// <summary>Ports in the range.</summary>
    public int Capacity => _free.Length;

    /// <summary>Ports free now.</summary>
    public int FreeCount
    {
        get
        {
            lock (_sync)
            {
                return _count;
            }
        }
    }

    /// <summary>Takes a port chosen uniformly at random among the free ones. False when none is free.</summary>
    public bool TryTake(out int port)
    {
        lock (_sync)
        {
            if (_count == 0)
            {
                port = 0;
                return false;
            }

            port = _free[RandomNumberGenerator.GetInt32(_count)];
            Remove(port);
            return true;
        }
    }

    /// <summary>
    /// Takes a random free even port (RFC 8656 section 7.2, EVEN-PORT); with <paramref name="withNext"/> the next
    /// port must be free too and is taken as well, to be held by a reservation token. False when no such port exists.
    /// </summary>
    public bool TryTakeEven(bool withNext, out int port)
    {
        lock (_sync)
        {
            port = 0;
            if (_count == 0)
            {
                return false;
            }

            int start = RandomNumberGenerator.GetInt32(_count);
            for (int i = 0; i < _count; i++)
            {
                int candidate = _free[(start + i) % _count];
                if ((candidate & 1) != 0 || (withNext && !IsFree(candidate + 1)))
                {
                    continue;
                }

                Remove(candidate);
                if (withNext)
                {
                    Remove(candidate + 1);
                }

                port = candidate;
                return true;
            }

            return false;
        }
    }

    /// <summary>Takes <paramref name="port"/> if it is in range and free.</summary>
    public bool TryTakeSpecific(int port)
    {
        lock (_sync)
        {
            if (!IsFree(port))
            {
                return false;
            }

            Remove(port);
            return true;
        }
    }

    /// <summary>Ports held out of the pool because another program had them bound.</summary>
    public int QuarantinedCount
    {
        get
        {
            lock (_sync)
            {
                return _quarantined.Count;
            }
        }
    }

    /// <summary>
    /// Keeps a taken port out of the pool until <paramref name="until"/> (a <see cref="TimeProvider.GetTimestamp"/>
    /// value): another program has it bound, and handing it out again at once would only fail again.
    /// </summary>
    public void Quarantine(int port, long until)
    {
        lock (_sync)
        {
            int slot = port - _min;
            if (slot >= 0 && slot < _indexOf.Length && _indexOf[slot] < 0)
            {
                _quarantined[port] = until;
            }
        }
    }

    /// <summary>Returns the quarantined ports whose time is up to the pool (the sweeper calls this).</summary>
    public void ReleaseQuarantined(long now)
    {
        lock (_sync)
        {
            foreach (KeyValuePair<int, long> entry in _quarantined)
            {
                if (now >= entry.Value)
                {
                    _quarantined.Remove(entry.Key);
                    ReleaseLocked(entry.Key);
                }
            }
        }
    }

    /// <summary>Returns a port to the pool. Ports out of range or already free are ignored.</summary>
    public void Release(int port)
    {
        lock (_sync)
        {
            ReleaseLocked(port);
        }
    }

    private void ReleaseLocked(int port)
    {
        int slot = port - _min;
        if (slot < 0 || slot >= _indexOf.Length || _indexOf[slot] >= 0)
        {
            return;
        }

        _free[_count] = port;
        _indexOf[slot] = _count;
        _count++;
    }

    private bool IsFree(int port)
    {
        int slot = port - _min;
        return slot >= 0 && slot < _indexOf.Length && _indexOf[slot] >= 0;
    }

    private void Remove(int port)
    {
        int slot = port - _min;
        int index = _indexOf[slot];
        int last = _free[--_count];
        _free[index] = last;
        _indexOf[last - _min] = index;
        _indexOf[slot] = -1;
    }
}
