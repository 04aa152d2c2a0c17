using System.Collections.Concurrent;
using TurnServer.Stun;

namespace TurnServer.Core.Allocations;

/// <summary>
/// Responses to recent authenticated requests, keyed by 5-tuple and transaction ID, so that a retransmitted request
/// gets the same answer instead of being executed again (RFC 8489 section 6.3.4; RFC 8656 section 7.2 for Allocate).
/// Entries live 40 s, a little longer than a UDP client retransmits (39.5 s, RFC 8489 section 6.2.1). The cache is
/// bounded: past <see cref="MaxEntries"/> new responses are not cached, so a flood cannot exhaust memory; and one
/// 5-tuple holds at most <see cref="MaxEntriesPerFiveTuple"/>, so a single client sending requests under ever new
/// transaction IDs fills only its own share and other clients' retransmissions still find their answers.
/// </summary>
public sealed class TransactionCache
{
    /// <summary>How long a response is kept.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromSeconds(40);

    /// <summary>Most responses held at once.</summary>
    public const int MaxEntries = 100_000;

    /// <summary>
    /// Most responses held for one 5-tuple: RFC 8489 section 6.2 asks a client to have at most 10 transactions
    /// outstanding to a server, and a retransmission comes within 40 s of the first send.
    /// </summary>
    public const int MaxEntriesPerFiveTuple = 16;

    private readonly ConcurrentDictionary<Key, Entry> _entries = new();
    private readonly ConcurrentDictionary<FiveTuple, int> _perFiveTuple = new();
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

    /// <summary>
    /// Caches a copy of <paramref name="response"/>; nothing when <see cref="MaxEntries"/> are held, or
    /// <see cref="MaxEntriesPerFiveTuple"/> for this 5-tuple (a retransmission of this request is then executed again).
    /// </summary>
    public void Add(in FiveTuple fiveTuple, TransactionId transactionId, ReadOnlySpan<byte> response)
    {
        if (Volatile.Read(ref _count) >= MaxEntries)
        {
            return;
        }

        var entry = new Entry(response.ToArray(), _time.GetTimestamp() + _retentionTicks);
        Key key = new(fiveTuple, transactionId);
        if (_entries.TryGetValue(key, out _))
        {
            _entries[key] = entry;
            return;
        }

        if (!TryTakeShare(fiveTuple))
        {
            return;
        }

        if (_entries.TryAdd(key, entry))
        {
            Interlocked.Increment(ref _count);
        }
        else
        {
            ReturnShare(fiveTuple);
            _entries[key] = entry;
        }
    }

    /// <summary>Counts one more entry for <paramref name="fiveTuple"/>; false when it holds its share already.</summary>
    private bool TryTakeShare(in FiveTuple fiveTuple)
    {
        while (true)
        {
            if (_perFiveTuple.TryGetValue(fiveTuple, out int held))
            {
                if (held >= MaxEntriesPerFiveTuple)
                {
                    return false;
                }

                if (_perFiveTuple.TryUpdate(fiveTuple, held + 1, held))
                {
                    return true;
                }
            }
            else if (_perFiveTuple.TryAdd(fiveTuple, 1))
            {
                return true;
            }
        }
    }

    /// <summary>Counts one entry fewer for <paramref name="fiveTuple"/>, forgetting it at none.</summary>
    private void ReturnShare(in FiveTuple fiveTuple)
    {
        while (_perFiveTuple.TryGetValue(fiveTuple, out int held)
            && !(held <= 1 ? _perFiveTuple.TryRemove(new KeyValuePair<FiveTuple, int>(fiveTuple, held)) : _perFiveTuple.TryUpdate(fiveTuple, held - 1, held)))
        {
            // another thread changed the count meanwhile: read it again
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
                ReturnShare(entry.Key.FiveTuple);
            }
        }
    }

    private readonly record struct Key(FiveTuple FiveTuple, TransactionId TransactionId);

    private readonly record struct Entry(byte[] Response, long ExpiresAt);
}
