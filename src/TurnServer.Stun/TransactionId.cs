using System.Buffers.Binary;
using System.Security.Cryptography;

namespace TurnServer.Stun;

/// <summary>
/// The 96-bit transaction ID of a STUN message (RFC 8489 section 5), held as two integers so that it compares and
/// hashes without touching memory outside the struct. Byte order is preserved: <see cref="CopyTo"/> writes
/// exactly the 12 bytes read by <see cref="Read"/>.
/// </summary>
public readonly struct TransactionId : IEquatable<TransactionId>
{
    private readonly ulong _high;
    private readonly uint _low;

    private TransactionId(ulong high, uint low)
    {
        _high = high;
        _low = low;
    }

    /// <summary>Reads 12 bytes. </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is shorter than 12 bytes.</exception>
    public static TransactionId Read(ReadOnlySpan<byte> source)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(source.Length, StunConstants.TransactionIdLength, nameof(source));
        return new TransactionId(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt32BigEndian(source[8..]));
    }

    /// <summary>A new ID from a cryptographically strong random source, as RFC 8489 section 5 requires.</summary>
    public static TransactionId NewRandom()
    {
        Span<byte> bytes = stackalloc byte[StunConstants.TransactionIdLength];
        RandomNumberGenerator.Fill(bytes);
        return Read(bytes);
    }

    /// <summary>Writes the 12 bytes into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="destination"/> is shorter than 12 bytes.</exception>
    public void CopyTo(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, StunConstants.TransactionIdLength, nameof(destination));
        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], _low);
    }

    /// <inheritdoc />
    public bool Equals(TransactionId other) => _high == other._high && _low == other._low;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TransactionId other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_high, _low);

    /// <summary>24 lowercase hex digits.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[StunConstants.TransactionIdLength];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>Equal IDs.</summary>
    public static bool operator ==(TransactionId left, TransactionId right) => left.Equals(right);

    /// <summary>Different IDs.</summary>
    public static bool operator !=(TransactionId left, TransactionId right) => !left.Equals(right);
}
