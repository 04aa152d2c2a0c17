using TurnServer.Stun;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// Decides whether a ClientHello from a new client address may start a session, by <see cref="DtlsLimits"/>: sessions
/// in total and per source IP, handshakes in total and handshakes per source IP. Called only when a session starts or ends, never per
/// record, so a plain lock is cheap enough.
/// </summary>
internal sealed class DtlsAdmission
{
    private readonly DtlsLimits _limits;
    private readonly Lock _sync = new();
    private readonly Dictionary<TransportAddress, int> _handshakesByAddress = [];
    private readonly Dictionary<TransportAddress, int> _sessionsByAddress = [];
    private int _handshakes;
    private int _sessions;

    /// <summary>Creates the admission control for one listening address.</summary>
    public DtlsAdmission(DtlsLimits limits) => _limits = limits;

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
    public int MaxSessionsPerAddress => Math.Max(1, _limits.MaxSessions / 4);

    /// <summary>
    /// Takes a session slot and a handshake slot for <paramref name="client"/>, or says in <paramref name="refusal"/>
    /// which limit is reached. Every success must be followed by one <see cref="EndHandshake"/> and one
    /// <see cref="EndSession"/>.
    /// </summary>
    public bool TryAdmit(in TransportAddress client, out DtlsDropReason refusal)
    {
        TransportAddress ip = client.WithPort(0);
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

            _handshakesByAddress[ip] = fromAddress + 1;
            _sessionsByAddress[ip] = sessionsFromAddress + 1;
            _handshakes++;
            _sessions++;
            refusal = default;
            return true;
        }
    }

    /// <summary>Frees the handshake slot of <paramref name="client"/> (the handshake finished, failed or timed out).</summary>
    public void EndHandshake(in TransportAddress client)
    {
        TransportAddress ip = client.WithPort(0);
        lock (_sync)
        {
            _handshakes--;
            Decrement(_handshakesByAddress, ip);
        }
    }

    /// <summary>Frees the session slot of <paramref name="client"/>.</summary>
    public void EndSession(in TransportAddress client)
    {
        TransportAddress ip = client.WithPort(0);
        lock (_sync)
        {
            _sessions--;
            Decrement(_sessionsByAddress, ip);
        }
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
}
