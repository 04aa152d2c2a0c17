using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using TurnServer.Stun;

namespace TurnServer.Core.Relay;

/// <summary>
/// Ports held for a later Allocate by RESERVATION-TOKEN (RFC 8656 section 7.2, EVEN-PORT with the R bit): the token
/// is 8 random bytes, the hold lasts 30 seconds, after which the sweeper returns the port to the pool. A reservation
/// remembers the server address the first Allocate came to, so the claimed port is bound on the same relay IP as its
/// even neighbour ("N and N+1 on the same IP address") whichever listener the claiming Allocate reaches.
/// </summary>
public sealed class ReservationTable
{
    /// <summary>How long a reservation is held: 30 s (RFC 8656 section 7.2 suggests about 30 s).</summary>
    public static readonly TimeSpan HoldTime = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<ulong, Reservation> _reservations = new();
    private readonly RelayPortPool _pool;
    private readonly TimeProvider _time;

    /// <summary>Creates the table over the pool the reserved ports come from.</summary>
    public ReservationTable(RelayPortPool pool, TimeProvider time)
    {
        _pool = pool;
        _time = time;
    }

    /// <summary>Reservations held now.</summary>
    public int Count => _reservations.Count;

    /// <summary>
    /// Records that <paramref name="port"/> (already taken from the pool) is held for a relay of <paramref name="family"/>
    /// chosen as for a client that reached <paramref name="serverAddress"/>, and returns its token.
    /// </summary>
    public ulong Add(int port, AddressFamily family, in TransportAddress serverAddress)
    {
        long expiresAt = _time.GetTimestamp() + (long)(HoldTime.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            ulong token = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
            if (_reservations.TryAdd(token, new Reservation(port, family, serverAddress, expiresAt)))
            {
                return token;
            }
        }
    }

    /// <summary>
    /// Claims the port held by <paramref name="token"/>, with the family and server address it was reserved with;
    /// false if the token is unknown or expired.
    /// </summary>
    public bool TryClaim(ulong token, out int port, out AddressFamily family, out TransportAddress serverAddress)
    {
        if (_reservations.TryRemove(token, out Reservation reservation))
        {
            if (_time.GetTimestamp() < reservation.ExpiresAt)
            {
                port = reservation.Port;
                family = reservation.Family;
                serverAddress = reservation.ServerAddress;
                return true;
            }

            _pool.Release(reservation.Port);
        }

        port = 0;
        family = AddressFamily.Unspecified;
        serverAddress = default;
        return false;
    }

    /// <summary>Returns the ports of expired reservations to the pool.</summary>
    public void RemoveExpired(long now)
    {
        foreach (KeyValuePair<ulong, Reservation> entry in _reservations)
        {
            if (now >= entry.Value.ExpiresAt && _reservations.TryRemove(entry.Key, out Reservation removed))
            {
                _pool.Release(removed.Port);
            }
        }
    }

    /// <summary>Returns every held port to the pool (shutdown).</summary>
    public void Clear() => RemoveExpired(long.MaxValue);

    private readonly record struct Reservation(int Port, AddressFamily Family, TransportAddress ServerAddress, long ExpiresAt);
}
