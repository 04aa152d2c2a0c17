using TurnServer.Hosting.Net;
using TurnServer.Stun;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// Decides whether a ClientHello from a new client address may start a session, by <see cref="DtlsLimits"/>: sessions
/// in total and per source IP, handshakes in total and per source IP, and handshake starts per source IP over time. A
/// source IP is an IPv6 source's /64, as for TCP and TLS connections (<see cref="AddressShares.KeyOf"/>).
/// Called only when a session starts or ends, never per record, so a plain lock is cheap enough.
/// </summary>
internal sealed class DtlsAdmission
{
    /// <summary>
    /// Most source IPs whose start rate is tracked: forged sources must not grow the map without bound. When it is
    /// full, a new address is refused until buckets have refilled and been dropped.
    /// </summary>
    private const int MaxTrackedAddresses = 16384;

    private readonly DtlsLimits _limits;
    private readonly TimeProvider _time;
    private readonly long _ticksPerStart;
    private readonly Lock _sync = new();
    private readonly Dictionary<TransportAddress, StartBucket> _startsByAddress = [];
    private readonly Dictionary<TransportAddress, int> _handshakesByAddress = [];
    private readonly Dictionary<TransportAddress, int> _sessionsByAddress = [];
    private long _nextPrune;
    private int _handshakes;
    private int _sessions;

    /// <summary>Creates the admission control for one listening address, measuring start rates on <paramref name="time"/>.</summary>
    public DtlsAdmission(DtlsLimits limits, TimeProvider time)
    {
        _limits = limits;
        _time = time;
        _ticksPerStart = Math.Max(1, (long)(limits.HandshakeStartWindow.TotalSeconds * time.TimestampFrequency) / limits.HandshakeStartsPerAddress);
    }

    /// <summary>Sessions admitted and not yet ended.</summary>
    public int Sessions
    {
        get
        {
            lock (_sync)
            {
                return _sessions;
            }
        }
    }

    /// <summary>Handshakes admitted and not yet ended.</summary>
    public int Handshakes
    {
        get
        {
            lock (_sync)
            {
                return _handshakes;
            }
        }
    }

    /// <summary>
    /// Most sessions one source IP may hold: a quarter of <see cref="DtlsLimits.MaxSessions"/>, as KestrelService
    /// limits connections per address, so that one address cannot take every session thread.
    /// </summary>
    public int MaxSessionsPerAddress => (int)AddressShares.QuarterOf(_limits.MaxSessions);

    /// <summary>
    /// Takes a session slot and a handshake slot for <paramref name="client"/>, or says in <paramref name="refusal"/>
    /// which limit is reached. Every success must be followed by one <see cref="EndHandshake"/> and one
    /// <see cref="EndSession"/>.
    /// </summary>
    public bool TryAdmit(in TransportAddress client, out DtlsDropReason refusal)
    {
        TransportAddress ip = AddressShares.KeyOf(client);
        lock (_sync)
        {
            _handshakesByAddress.TryGetValue(ip, out int fromAddress);
            _sessionsByAddress.TryGetValue(ip, out int sessionsFromAddress);
            if (_sessions >= _limits.MaxSessions)
            {
                refusal = DtlsDropReason.SessionLimit;
                return false;
            }

            if (sessionsFromAddress >= MaxSessionsPerAddress)
            {
                refusal = DtlsDropReason.AddressSessionLimit;
                return false;
            }

            if (_handshakes >= _limits.MaxHandshakes)
            {
                refusal = DtlsDropReason.HandshakeLimit;
                return false;
            }

            if (fromAddress >= _limits.MaxHandshakesPerAddress)
            {
                refusal = DtlsDropReason.AddressHandshakeLimit;
                return false;
            }

            if (!TryTakeStart(ip))
            {
                refusal = DtlsDropReason.AddressStartRate;
                return false;
            }

            _handshakesByAddress[ip] = fromAddress + 1;
            _sessionsByAddress[ip] = sessionsFromAddress + 1;
            _handshakes++;
            _sessions++;
            refusal = default;
            return true;
        }
    }

    /// <summary>
    /// Frees the handshake slot of <paramref name="client"/> (the handshake finished, failed or timed out). A handshake
    /// that <paramref name="completed"/> also gives its start back: the client proved it receives at its address, so
    /// only handshakes that never complete, all a forged source can make, use up the address's starts, and clients
    /// behind one NAT are not held to its rate.
    /// </summary>
    public void EndHandshake(in TransportAddress client, bool completed)
    {
        TransportAddress ip = AddressShares.KeyOf(client);
        lock (_sync)
        {
            _handshakes--;
            Decrement(_handshakesByAddress, ip);
            if (completed && _startsByAddress.TryGetValue(ip, out StartBucket bucket))
            {
                _startsByAddress[ip] = new StartBucket(bucket.NextStart - _ticksPerStart);
            }
        }
    }

    /// <summary>Frees the session slot of <paramref name="client"/>.</summary>
    public void EndSession(in TransportAddress client)
    {
        TransportAddress ip = AddressShares.KeyOf(client);
        lock (_sync)
        {
            _sessions--;
            Decrement(_sessionsByAddress, ip);
        }
    }

    /// <summary>
    /// Takes one of the handshake starts of <paramref name="ip"/>. A token bucket kept as one timestamp (GCRA): the
    /// time the address's next start is due, moved one refill period on by each start; a start is allowed while that
    /// time is less than a full bucket ahead of now. An address without a bucket, or with one due in the past, has
    /// every start.
    /// </summary>
    private bool TryTakeStart(TransportAddress ip)
    {
        long now = _time.GetTimestamp();
        long due = now;
        if (_startsByAddress.TryGetValue(ip, out StartBucket bucket))
        {
            due = Math.Max(bucket.NextStart, now);
        }
        else if (_startsByAddress.Count >= MaxTrackedAddresses && !Prune(now))
        {
            return false;
        }

        if (due - now > _ticksPerStart * (_limits.HandshakeStartsPerAddress - 1))
        {
            return false;
        }

        _startsByAddress[ip] = new StartBucket(due + _ticksPerStart);
        return true;
    }

    /// <summary>
    /// Drops buckets due in the past, which are as good as absent; at most once per refill period, so a flood of new
    /// sources against a full map costs one walk per period, not one per datagram. True when room was made.
    /// </summary>
    private bool Prune(long now)
    {
        if (now < _nextPrune)
        {
            return false;
        }

        _nextPrune = now + _ticksPerStart;
        foreach ((TransportAddress ip, StartBucket bucket) in _startsByAddress)
        {
            if (bucket.NextStart <= now)
            {
                _startsByAddress.Remove(ip);
            }
        }

        return _startsByAddress.Count < MaxTrackedAddresses;
    }

    /// <summary>Counts one down for <paramref name="ip"/>, forgetting it at zero so the map holds only live addresses.</summary>
    private static void Decrement(Dictionary<TransportAddress, int> counts, TransportAddress ip)
    {
        int left = counts[ip] - 1;
        if (left == 0)
        {
            counts.Remove(ip);
        }
        else
        {
            counts[ip] = left;
        }
    }

    /// <summary>When the next handshake start of an address is available, as a timestamp.</summary>
    private readonly record struct StartBucket(long NextStart);
}
