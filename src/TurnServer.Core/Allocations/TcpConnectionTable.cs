using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using TurnServer.Core.Relay;

namespace TurnServer.Core.Allocations;

/// <summary>
/// Peer data connections waiting for a ConnectionBind, by CONNECTION-ID (RFC 6062 sections 5.2 and 5.3). An entry
/// not claimed within 30 seconds is closed by the sweeper.
/// </summary>
public sealed class TcpConnectionTable
{
    /// <summary>How long a peer data connection waits for its ConnectionBind: 30 s (RFC 6062 sections 5.2, 5.3).</summary>
    public static readonly TimeSpan BindTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<uint, PendingPeerConnection> _pending = new();
    private readonly TimeProvider _time;

    /// <summary>Creates an empty table.</summary>
    public TcpConnectionTable(TimeProvider time) => _time = time;

    /// <summary>Connections waiting for a ConnectionBind.</summary>
    public int Count => _pending.Count;

    /// <summary>
    /// Registers a peer data connection under a new, unique, non-zero CONNECTION-ID; false, registering nothing, when
    /// <paramref name="allocation"/> has <see cref="Allocation.MaxUnboundPeerConnections"/> waiting already.
    /// </summary>
    public bool TryRegister(Allocation allocation, IPeerDataConnection peer, out uint connectionId)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        if (!allocation.TryAddUnboundPeer())
        {
            connectionId = 0;
            return false;
        }

        long expiresAt = _time.GetTimestamp() + (long)(BindTimeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            connectionId = (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
            if (_pending.TryAdd(connectionId, new PendingPeerConnection(allocation, peer, expiresAt)))
            {
                return true;
            }
        }
    }

    /// <summary>Takes the pending connection for <paramref name="connectionId"/>; false if unknown, expired or already claimed.</summary>
    public bool TryClaim(uint connectionId, [NotNullWhen(true)] out PendingPeerConnection? pending)
    {
        if (!_pending.TryRemove(connectionId, out pending))
        {
            return false;
        }

        pending.Allocation.UnboundPeerRemoved();
        if (!pending.Allocation.IsReleased && _time.GetTimestamp() < pending.ExpiresAt)
        {
            return true;
        }

        Close(pending);
        pending = null;
        return false;
    }

    /// <summary>Closes connections whose 30 seconds have passed or whose allocation has ended.</summary>
    public void RemoveExpired(long now)
    {
        foreach (KeyValuePair<uint, PendingPeerConnection> entry in _pending)
        {
            if ((now >= entry.Value.ExpiresAt || entry.Value.Allocation.IsReleased) && _pending.TryRemove(entry))
            {
                entry.Value.Allocation.UnboundPeerRemoved();
                Close(entry.Value);
            }
        }
    }

    private static void Close(PendingPeerConnection pending)
    {
        pending.Allocation.ReleaseTcpPeer(pending.Peer.PeerAddress);
        pending.Peer.Dispose();
    }
}

/// <summary>A peer data connection waiting for its client data connection.</summary>
/// <param name="Allocation">The allocation whose relayed address the connection uses.</param>
/// <param name="Peer">The connection to the peer.</param>
/// <param name="ExpiresAt">When it is closed if unclaimed, as a <see cref="TimeProvider.GetTimestamp"/> value.</param>
public sealed record PendingPeerConnection(Allocation Allocation, IPeerDataConnection Peer, long ExpiresAt);
