using System.Runtime.CompilerServices;

namespace TurnServer.Hosting.Net;

/// <summary>
/// Handshakes begun and finished on a TLS or DTLS listener, and events counted by <typeparamref name="TReason"/>
/// (failures, drops), for the metrics. Incremented with <see cref="Interlocked"/>; a count per reason costs no
/// allocation, so a drop on a per-record path may be counted here.
/// </summary>
/// <typeparam name="TReason">An enum whose values run from 0 without gaps, one slot each.</typeparam>
public abstract class HandshakeCounters<TReason>
    where TReason : struct, Enum
{
    private readonly long[] _byReason = new long[Enum.GetValues<TReason>().Length];
    private long _started;
    private long _completed;

    /// <summary>Handshakes begun.</summary>
    public long HandshakesStarted => Volatile.Read(ref _started);

    /// <summary>Handshakes that finished.</summary>
    public long HandshakesCompleted => Volatile.Read(ref _completed);

    /// <summary>Events counted for <paramref name="reason"/>.</summary>
    public long Get(TReason reason) => Volatile.Read(ref _byReason[Index(reason)]);

    /// <summary>Counts one event for <paramref name="reason"/>.</summary>
    internal void Count(TReason reason) => Interlocked.Increment(ref _byReason[Index(reason)]);

    /// <summary>Counts a handshake begun.</summary>
    internal void HandshakeStarted() => Interlocked.Increment(ref _started);

    /// <summary>Counts a handshake that finished.</summary>
    internal void HandshakeCompleted() => Interlocked.Increment(ref _completed);

    private static int Index(TReason reason) => Unsafe.As<TReason, int>(ref reason);
}
