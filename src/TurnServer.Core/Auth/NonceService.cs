using System.Buffers.Binary;
using System.Security.Cryptography;
using TurnServer.Stun;

namespace TurnServer.Core.Auth;

/// <summary>Outcome of checking a NONCE.</summary>
public enum NonceValidity
{
    /// <summary>Issued by this server for this client IP and not expired.</summary>
    Valid,

    /// <summary>Expired, forged, malformed or issued to another IP: answer 438 Stale Nonce with a fresh one (RFC 8489 section 9.2.4).</summary>
    Stale,
}

/// <summary>
/// Stateless nonces (RFC 8489 section 9.2): 48 hex characters, the expiry (unix seconds, 8 bytes), 8 random bytes,
/// then the first 8 bytes of HMAC-SHA256(server secret, expiry || random || client IP). The random part makes every
/// nonce new, as RFC 8489 section 9.2.4 requires of two clients behind one NAT address. Nothing is stored per client,
/// so a flood of unauthenticated requests costs no memory; a nonce only works from the IP it was given to. The secret
/// is random per process, so a restart makes old nonces stale (clients retry after 438).
/// </summary>
public sealed class NonceService
{
    private const int ExpiryLength = 8;
    private const int RandomLength = 8;
    private const int MacLength = 8;
    private const int RawLength = ExpiryLength + RandomLength + MacLength;

    /// <summary>Length in characters of every nonce.</summary>
    public const int NonceLength = 2 * RawLength;

    private readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);
    private readonly TimeProvider _time;
    private readonly long _lifetimeSeconds;

    /// <summary>Creates the service; <paramref name="lifetimeSeconds"/> 0 means nonces never expire.</summary>
    public NonceService(TimeProvider time, int lifetimeSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lifetimeSeconds);
        _time = time;
        _lifetimeSeconds = lifetimeSeconds;
    }

    /// <summary>A new nonce for a client at <paramref name="client"/> (only its IP counts).</summary>
    public string Create(in TransportAddress client)
    {
        ulong expiry = _lifetimeSeconds == 0 ? ulong.MaxValue : (ulong)(_time.GetUtcNow().ToUnixTimeSeconds() + _lifetimeSeconds);
        Span<byte> raw = stackalloc byte[RawLength];
        BinaryPrimitives.WriteUInt64BigEndian(raw, expiry);
        RandomNumberGenerator.Fill(raw.Slice(ExpiryLength, RandomLength));
        ComputeMac(raw[..(ExpiryLength + RandomLength)], client, raw[(ExpiryLength + RandomLength)..]);
        return Convert.ToHexStringLower(raw);
    }

    /// <summary>Checks a NONCE attribute value received from <paramref name="client"/>.</summary>
    public NonceValidity Validate(ReadOnlySpan<byte> nonce, in TransportAddress client)
    {
        Span<byte> raw = stackalloc byte[RawLength];
        if (nonce.Length != NonceLength || Convert.FromHexString(nonce, raw, out _, out int written) != System.Buffers.OperationStatus.Done || written != raw.Length)
        {
            return NonceValidity.Stale;
        }

        ulong expiry = BinaryPrimitives.ReadUInt64BigEndian(raw);
        Span<byte> expected = stackalloc byte[MacLength];
        ComputeMac(raw[..(ExpiryLength + RandomLength)], client, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, raw[(ExpiryLength + RandomLength)..]))
        {
            return NonceValidity.Stale;
        }

        return expiry == ulong.MaxValue || (ulong)_time.GetUtcNow().ToUnixTimeSeconds() < expiry ? NonceValidity.Valid : NonceValidity.Stale;
    }

    /// <summary>The MAC of a nonce's <paramref name="expiryAndRandom"/> bytes for <paramref name="client"/>'s IP.</summary>
    private void ComputeMac(ReadOnlySpan<byte> expiryAndRandom, in TransportAddress client, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[ExpiryLength + RandomLength + 16];
        expiryAndRandom.CopyTo(input);
        int length = expiryAndRandom.Length + client.WriteAddressBytes(input[expiryAndRandom.Length..]);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, input[..length], mac);
        mac[..MacLength].CopyTo(destination);
    }
}
