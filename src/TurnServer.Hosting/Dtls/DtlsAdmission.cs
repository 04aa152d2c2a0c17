using TurnServer.Stun;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// Decides whether a ClientHello from a new client address may start a session, by <see cref="DtlsLimits"/>: sessions
/// in total, handshakes in total and handshakes per source IP. Called only when a session starts or ends, never per
/// record, so a plain lock is cheap enough.
/// </summary>
internal sealed class DtlsAdmission
{
    private readonly DtlsLimits _limits;
    private readonly Lock _sync = new();
    private readonly Dictionary<TransportAddress, int> _handshakesByAddress = [];
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
            if (_sessions >= _limits.MaxSessions)
            {
                refusal = DtlsDropReason.SessionLimit;
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
            int left = _handshakesByAddress[ip] - 1;
            if (left == 0)
            {
                _handshakesByAddress.Remove(ip);
            }
            else
            {
                _handshakesByAddress[ip] = left;
            }
        }
    }

    /// <summary>Frees a session slot.</summary>
    public void EndSession()
    {
        lock (_sync)
        {
            _sessions--;
        }
    }
}
