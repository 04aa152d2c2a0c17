using System.Collections.Concurrent;
using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>
/// Responses to recent authenticated requests, keyed by 5-tuple and transaction ID, so that a retransmitted request
/// gets the same answer instead of being executed again (RFC 8489 section 6.3.4; RFC 8656 section 7.2 for Allocate).
/// Entries live 40 s, a little longer than a UDP client retransmits (39.5 s, RFC 8489 section 6.2.1). The cache is
/// bounded: past <see cref="MaxEntries"/> new responses are not cached, so a flood cannot exhaust memory.
/// </summary>
public sealed class TransactionCache
{
    /// <summary>How long a response is kept.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromSeconds(40);

    /// <summary>Most responses held at once.</summary>
    public const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<Key, Entry> _entries = new();
    private readonly TimeProvider _time;
    private readonly long _retentionTicks;

    // ConcurrentDictionary.Count takes every bucket lock (up to 1,024): counted here instead, it cost 37% of the
    // server's CPU under an Allocate/Refresh load (benchmarks/RESULTS.md, allocation rate).
    private int _count;

    /// <summary>Creates an empty cache.</summary>
    public TransactionCache(TimeProvider time)
    {
        _time = time;
        _retentionTicks = (long)(Retention.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>Responses held now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// The cached response, if a request of <paramref name="method"/> with this transaction ID was seen within the
    /// retention time. A request that reuses the ID with another method is not a retransmission: it gets no answer
    /// of the other method's.
    /// </summary>
    public bool TryGet(in FiveTuple fiveTuple, TransactionId transactionId, StunMethod method, out byte[] response)
    {
        if (_entries.TryGetValue(new Key(fiveTuple, transactionId), out Entry entry) && _time.GetTimestamp() < entry.ExpiresAt
            && MethodOf(entry.Response) == method)
        {
            response = entry.Response;
            return true;
        }

        response = [];
        return false;
    }

    /// <summary>Caches a copy of <paramref name="response"/>.</summary>
    public void Add(in FiveTuple fiveTuple, TransactionId transactionId, ReadOnlySpan<byte> response)
    {
        if (Volatile.Read(ref _count) < MaxEntries)
        {
            var entry = new Entry(response.ToArray(), _time.GetTimestamp() + _retentionTicks);
            Key key = new(fiveTuple, transactionId);
            if (_entries.TryAdd(key, entry))
            {
                Interlocked.Increment(ref _count);
            }
            else
            {
                _entries[key] = entry;
            }
        }
    }

    private static StunMethod MethodOf(byte[] response)
    {
        StunMessageType.Decode(System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(response), out StunMethod method, out _);
        return method;
    }

    /// <summary>Drops entries older than the retention time.</summary>
    public void RemoveExpired(long now)
    {
        foreach (KeyValuePair<Key, Entry> entry in _entries)
        {
            if (now >= entry.Value.ExpiresAt && _entries.TryRemove(entry))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    private readonly record struct Key(FiveTuple FiveTuple, TransactionId TransactionId);

    private readonly record struct Entry(byte[] Response, long ExpiresAt);
}
