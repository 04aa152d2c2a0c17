using System.Collections.Concurrent;
using System.Net.Sockets;
using TurnServer.Core.Diagnostics;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>Why an allocation ended.</summary>
public enum AllocationEndReason
{
    /// <summary>Its lifetime ran out (RFC 8656 section 2.2).</summary>
    Expired,

    /// <summary>The client sent Refresh with LIFETIME 0 (RFC 8656 section 8.2).</summary>
    Deleted,

    /// <summary>The client's TCP or TLS connection, or its DTLS session, closed (section 3.1).</summary>
    ConnectionClosed,

    /// <summary>The server is shutting down.</summary>
    Shutdown,

    /// <summary>An operator cancelled it (the CLI's <c>cs</c> command).</summary>
    Cancelled,
}

/// <summary>Observes allocations starting and ending, for logs and metrics. Calls must not throw.</summary>
public interface IAllocationObserver
{
    /// <summary>An allocation was created.</summary>
    void OnCreated(Allocation allocation);

    /// <summary>An allocation ended; its counters are final.</summary>
    void OnEnded(Allocation allocation, AllocationEndReason reason);

    /// <summary>
    /// A Refresh succeeded (RFC 8656 section 8.2) with <paramref name="lifetime"/> seconds; with 0, <see cref="OnEnded"/>
    /// follows at once.
    /// </summary>
    void OnRefreshed(Allocation allocation, uint lifetime)
    {
    }

    /// <summary>A client moved an allocation from <paramref name="from"/> to its current 5-tuple (RFC 8016 mobility).</summary>
    void OnMoved(Allocation allocation, in FiveTuple from)
    {
    }

    /// <summary>
    /// One relay of a dual allocation, advertised at <paramref name="relayed"/>, was deleted (<see cref="AllocationEndReason.Deleted"/>
    /// by a Refresh naming its family, or <see cref="AllocationEndReason.Expired"/>); the allocation lives on with the other
    /// (RFC 8656 section 8.1).
    /// </summary>
    void OnRelayDeleted(Allocation allocation, TransportAddress relayed, AllocationEndReason reason)
    {
    }
}

/// <summary>Result of <see cref="AllocationTable.TryReserveQuota"/>.</summary>
public enum QuotaResult
{
    /// <summary>Counted against the quotas; call <see cref="AllocationTable.Add"/> or <see cref="AllocationTable.ReleaseQuota"/>.</summary>
    Reserved,

    /// <summary>
    /// The user already holds user-quota allocations, the server total-quota, or every byte per second of
    /// bps-capacity is granted (486).
    /// </summary>
    QuotaReached,
}

/// <summary>
/// All allocations, keyed by 5-tuple. Lookups are lock-free (the relay fast path does one per packet); creating and
/// deleting allocations takes a lock only for the quota counts. Deleting returns the relay ports to the pool.
/// </summary>
public sealed class AllocationTable
{
    private readonly ConcurrentDictionary<FiveTuple, Allocation> _allocations = new();
    private readonly ConcurrentDictionary<string, Allocation> _byMobilityTicket = new(StringComparer.Ordinal);

    // Moves re-key an allocation; deletions take the same lock so one never removes the key the other just left.
    private readonly Lock _keySync = new();
    private readonly Dictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private readonly Lock _quotaSync = new();
    private readonly RelayPortPool _ports;
    private int _userQuota;
    private int _totalQuota;
    private readonly IAllocationObserver? _observer;
    private readonly ServerCounters _counters;
    private int _reserved;
    private long _maxBps;
    private readonly long _bpsCapacity;
    private long _bpsGranted;
    private long _lastSessionId;

    /// <summary>
    /// Creates a table with quotas (0 = unlimited) whose deleted allocations return ports to <paramref name="ports"/>
    /// and add their traffic to <paramref name="counters"/>; each allocation is granted <paramref name="maxBps"/>
    /// bytes per second each way out of <paramref name="bpsCapacity"/> (0 = unlimited for either).
    /// </summary>
    public AllocationTable(RelayPortPool ports, int userQuota, int totalQuota, IAllocationObserver? observer, ServerCounters counters, long maxBps = 0, long bpsCapacity = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBps);
        ArgumentOutOfRangeException.ThrowIfNegative(bpsCapacity);
        _ports = ports;
        _userQuota = userQuota;
        _totalQuota = totalQuota;
        _observer = observer;
        _counters = counters;
        _maxBps = maxBps;
        _bpsCapacity = bpsCapacity;
    }

    /// <summary>Bytes per second a new allocation is granted each way; 0 = unlimited (coTURN's <c>max-bps</c>).</summary>
    public long MaxBps => Volatile.Read(ref _maxBps);

    /// <summary>Bytes per second granted to live allocations, out of <c>bps-capacity</c>.</summary>
    public long BpsGranted => Volatile.Read(ref _bpsGranted);

    /// <summary>Concurrent allocations one username may hold; 0 = unlimited (coTURN's <c>user-quota</c>).</summary>
    public int UserQuota => Volatile.Read(ref _userQuota);

    /// <summary>Concurrent allocations on the whole server; 0 = unlimited (coTURN's <c>total-quota</c>).</summary>
    public int TotalQuota => Volatile.Read(ref _totalQuota);

    /// <summary>
    /// Changes the quotas and the bytes per second granted to each new allocation (0 = unlimited), as a user
    /// database's realm options do. Allocations already held keep what they have; only new ones are judged against
    /// the new values.
    /// </summary>
    public void SetQuotas(int userQuota, int totalQuota, long maxBps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(userQuota);
        ArgumentOutOfRangeException.ThrowIfNegative(totalQuota);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBps);
        lock (_quotaSync)
        {
            _userQuota = userQuota;
            _totalQuota = totalQuota;
            _maxBps = maxBps;
        }
    }

    /// <summary>Live allocations.</summary>
    public int Count => _allocations.Count;

    /// <summary>A snapshot-free enumeration of live allocations (safe while they change).</summary>
    public IEnumerable<Allocation> All => _allocations.Values;

    /// <summary>Finds the allocation for <paramref name="fiveTuple"/>; lock-free.</summary>
    public bool TryGet(in FiveTuple fiveTuple, out Allocation allocation) => _allocations.TryGetValue(fiveTuple, out allocation!);

    /// <summary>
    /// Counts a coming allocation against user-quota and total-quota, and grants it <paramref name="bandwidth"/> bytes
    /// per second each way (0: unlimited): <see cref="MaxBps"/>, or what is left of bps-capacity when that is less
    /// (RFC 8656 section 7.2 step 10, 486, as coTURN does).
    /// </summary>
    public QuotaResult TryReserveQuota(string? username, out long bandwidth)
    {
        lock (_quotaSync)
        {
            bandwidth = _maxBps;
            if (_maxBps > 0 && _bpsCapacity > 0)
            {
                bandwidth = Math.Min(_maxBps, _bpsCapacity - _bpsGranted);
            }

            if ((_totalQuota > 0 && _reserved >= _totalQuota) || (_maxBps > 0 && bandwidth <= 0))
            {
                bandwidth = 0;
                return QuotaResult.QuotaReached;
            }

            if (username is not null)
            {
                _perUser.TryGetValue(username, out int held);
                if (_userQuota > 0 && held >= _userQuota)
                {
                    bandwidth = 0;
                    return QuotaResult.QuotaReached;
                }

                _perUser[username] = held + 1;
            }

            _reserved++;
            _bpsGranted += bandwidth;
            return QuotaResult.Reserved;
        }
    }

    /// <summary>Gives back a quota reservation and the <paramref name="bandwidth"/> it was granted.</summary>
    public void ReleaseQuota(string? username, long bandwidth)
    {
        lock (_quotaSync)
        {
            _reserved--;
            _bpsGranted -= bandwidth;
            if (username is not null && _perUser.TryGetValue(username, out int held))
            {
                if (held <= 1)
                {
                    _perUser.Remove(username);
                }
                else
                {
                    _perUser[username] = held - 1;
                }
            }
        }
    }

    /// <summary>Adds an allocation whose quota was reserved. False if the 5-tuple already has one.</summary>
    public bool Add(Allocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        allocation.SessionId = Interlocked.Increment(ref _lastSessionId);
        if (!_allocations.TryAdd(allocation.FiveTuple, allocation))
        {
            return false;
        }

        if (allocation.MobilityTicket is { } ticket)
        {
            _byMobilityTicket[ticket] = allocation;
        }

        _observer?.OnCreated(allocation);
        return true;
    }

    /// <summary>Finds the live allocation whose current mobility ticket is <paramref name="ticket"/>.</summary>
    public bool TryGetByMobilityTicket(string ticket, out Allocation allocation) =>
        _byMobilityTicket.TryGetValue(ticket, out allocation!) && !allocation.IsReleased;

    /// <summary>
    /// Moves <paramref name="allocation"/> to <paramref name="fiveTuple"/>, reached through <paramref name="client"/>,
    /// and gives it <paramref name="newTicket"/> (RFC 8016 section 3.2): from now on its traffic goes to and comes from
    /// there, and the old 5-tuple has no allocation. False, and nothing changed, when the allocation was deleted
    /// meanwhile, <paramref name="fiveTuple"/> already has one, or <paramref name="presentedTicket"/> is no longer the
    /// allocation's ticket: two Refreshes presenting one ticket at once move it once, and the other gets 437.
    /// </summary>
    public bool Move(Allocation allocation, in FiveTuple fiveTuple, ClientConnection client, string presentedTicket, string newTicket)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        FiveTuple from;
        ClientConnection previous;
        lock (_keySync)
        {
            from = allocation.FiveTuple;
            previous = allocation.Client;
            if (allocation.IsReleased || allocation.MobilityTicket != presentedTicket || !_allocations.TryAdd(fiveTuple, allocation))
            {
                return false;
            }

            allocation.MoveTo(fiveTuple, client);
            _allocations.TryRemove(new KeyValuePair<FiveTuple, Allocation>(from, allocation));
            if (allocation.MobilityTicket is { } old)
            {
                _byMobilityTicket.TryRemove(new KeyValuePair<string, Allocation>(old, allocation));
            }

            allocation.IssueMobilityTicket(newTicket);
            _byMobilityTicket[newTicket] = allocation;
        }

        _observer?.OnMoved(allocation, from);

        // The old connection no longer carries the allocation: a stream or DTLS session ends, as when it is deleted,
        // rather than holding its socket, thread and session slot for a client that has gone elsewhere.
        previous.OnAllocationReleased();
        return true;
    }

    /// <summary>
    /// Hands <paramref name="allocation"/> to <paramref name="client"/>, a new stream connection or DTLS session on the
    /// allocation's own 5-tuple (a client that reconnected from the same address and port and presented its mobility
    /// ticket, RFC 8016); the connection it leaves is told, as by <see cref="Move"/>. Nothing when it is released or
    /// already there.
    /// </summary>
    public void Reattach(Allocation allocation, ClientConnection client)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        ClientConnection previous;
        lock (_keySync)
        {
            previous = allocation.Client;
            if (allocation.IsReleased || ReferenceEquals(previous, client))
            {
                return;
            }

            allocation.MoveTo(allocation.FiveTuple, client);
        }

        previous.OnAllocationReleased();
    }

    /// <summary>
    /// The stream connection or DTLS session <paramref name="client"/> of <paramref name="fiveTuple"/> closed (RFC 8656
    /// section 3.1): its allocation ends, unless it has moved to another connection or holds a mobility ticket, which
    /// keeps it until it expires so the client can move it to a new connection (RFC 8016).
    /// </summary>
    public void ConnectionClosed(in FiveTuple fiveTuple, ClientConnection client)
    {
        if (_allocations.TryGetValue(fiveTuple, out Allocation? allocation) && allocation.Client == client && allocation.MobilityTicket is null)
        {
            Remove(allocation, AllocationEndReason.ConnectionClosed);
        }
    }

    /// <summary>
    /// Answers a successful Refresh (RFC 8656 section 8.2): the allocation now expires at <paramref name="expiresAt"/>
    /// (a <see cref="TimeProvider.GetTimestamp"/> value), <paramref name="lifetime"/> seconds from now, or with a
    /// lifetime of 0 is deleted. Observers hear of the refresh before the deletion, as coTURN reports them.
    /// With <paramref name="family"/> (REQUESTED-ADDRESS-FAMILY) and a dual allocation, only that family's relay is
    /// refreshed, or with 0 deleted, its port returned (RFC 8656 section 8.1); observers hear the allocation's
    /// remaining lifetime. Returns false, changing nothing, when the allocation has no relay of
    /// <paramref name="family"/> any more (the sweeper expired it since the request was checked): answer 443.
    /// </summary>
    public bool Refresh(Allocation allocation, uint lifetime, long expiresAt, AddressFamily? family = null)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        if (family is { } one)
        {
            bool done = lifetime == 0 ? RemoveRelay(allocation, one, AllocationEndReason.Deleted) : allocation.IsDual && allocation.SetExpiresAt(one, expiresAt);
            if (done)
            {
                _observer?.OnRefreshed(allocation, (uint)Math.Max(0, allocation.SecondsToExpiry));
                return true;
            }

            // Not (or no longer) dual: the family named is the allocation's only one, or gone.
            if (allocation.GetRelay(one) is null)
            {
                return false;
            }
        }

        if (lifetime != 0)
        {
            allocation.SetExpiresAt(expiresAt);
        }

        _observer?.OnRefreshed(allocation, lifetime);
        if (lifetime == 0)
        {
            Remove(allocation, AllocationEndReason.Deleted);
        }

        return true;
    }

    /// <summary>
    /// Deletes an allocation: removes it from the table, closes its relay sockets, returns their ports and its
    /// quota. Only the first call for an allocation does anything; returns whether this call did.
    /// </summary>
    public bool Remove(Allocation allocation, AllocationEndReason reason)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        lock (_keySync)
        {
            if (!_allocations.TryRemove(new KeyValuePair<FiveTuple, Allocation>(allocation.FiveTuple, allocation)) || !allocation.Release())
            {
                return false;
            }

            if (allocation.MobilityTicket is { } ticket)
            {
                _byMobilityTicket.TryRemove(new KeyValuePair<string, Allocation>(ticket, allocation));
            }

            // Under the lock that GetTrafficTotals takes: the allocation leaves the live set and joins the ended
            // totals at once, so no reading misses it.
            _counters.AllocationEnded(TrafficTotals.Of(allocation));
        }

        ReturnPorts(allocation);
        ReleaseQuota(allocation.Username, allocation.BandwidthLimit);
        _observer?.OnEnded(allocation, reason);
        allocation.Client.OnAllocationReleased();
        return true;
    }

    /// <summary>
    /// Relay traffic of every allocation, ended and live, each counted once: the ended totals and the live set are
    /// read under the lock deletions take. <paramref name="eachLive"/>, if given, sees every live allocation and its
    /// share (for per-user metrics); it runs under that lock, so it must be quick.
    /// </summary>
    public TrafficTotals GetTrafficTotals(Action<Allocation, TrafficTotals>? eachLive = null)
    {
        lock (_keySync)
        {
            TrafficTotals totals = _counters.EndedTraffic;
            foreach (Allocation allocation in _allocations.Values)
            {
                TrafficTotals live = TrafficTotals.Of(allocation);
                totals += live;
                eachLive?.Invoke(allocation, live);
            }

            return totals;
        }
    }

    /// <summary>
    /// Deletes the relay of each family of a dual allocation whose own lifetime has passed at <paramref name="now"/>
    /// (the allocation lives on with the other; when both have passed, the whole allocation has expired). Called by
    /// the sweeper.
    /// </summary>
    internal void RemoveExpiredRelays(Allocation allocation, long now)
    {
        if (allocation.IsDual)
        {
            RemoveRelay(allocation, AddressFamily.InterNetwork, AllocationEndReason.Expired, now);
            RemoveRelay(allocation, AddressFamily.InterNetworkV6, AllocationEndReason.Expired, now);
        }
    }

    /// <summary>Deletes one relay of a dual allocation (see <see cref="Allocation.DetachRelay"/>), returning its port; false when it did not.</summary>
    private bool RemoveRelay(Allocation allocation, AddressFamily family, AllocationEndReason reason, long? expiredAt = null)
    {
        if (allocation.DetachRelay(family, expiredAt) is not { } detached)
        {
            return false;
        }

        _ports.Release(detached.Relay.LocalAddress.Port);
        _observer?.OnRelayDeleted(allocation, detached.Advertised, reason);
        return true;
    }

    /// <summary>Returns the relay ports of an allocation that never made it into the table.</summary>
    internal void ReturnPorts(Allocation allocation)
    {
        if (allocation.RelayV4 is { } v4)
        {
            _ports.Release(v4.LocalAddress.Port);
        }

        if (allocation.RelayV6 is { } v6)
        {
            _ports.Release(v6.LocalAddress.Port);
        }
    }
}
