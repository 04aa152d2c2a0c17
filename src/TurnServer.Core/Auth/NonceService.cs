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
/// Stateless nonces (RFC 8489 section 9.2): 32 hex characters, the expiry (unix seconds, 8 bytes) followed by the
/// first 8 bytes of HMAC-SHA256(server secret, expiry || client IP). Nothing is stored per client, so a flood of
/// unauthenticated requests costs no memory; a nonce only works from the IP it was given to. The secret is random
/// per process, so a restart makes old nonces stale (clients retry after 438).
/// </summary>
public sealed class NonceService
{
    private const int MacLength = 8;

    /// <summary>Length in characters of every nonce.</summary>
    public const int NonceLength = 2 * (8 + MacLength);

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
        Span<byte> raw = stackalloc byte[8 + MacLength];
        BinaryPrimitives.WriteUInt64BigEndian(raw, expiry);
        ComputeMac(expiry, client, raw[8..]);
        return Convert.ToHexStringLower(raw);
    }

    /// <summary>Checks a NONCE attribute value received from <paramref name="client"/>.</summary>
    public NonceValidity Validate(ReadOnlySpan<byte> nonce, in TransportAddress client)
    {
        Span<byte> raw = stackalloc byte[8 + MacLength];
        if (nonce.Length != NonceLength || Convert.FromHexString(System.Text.Encoding.ASCII.GetString(nonce), raw, out _, out int written) != System.Buffers.OperationStatus.Done || written != raw.Length)
        {
            return NonceValidity.Stale;
        }

        ulong expiry = BinaryPrimitives.ReadUInt64BigEndian(raw);
        Span<byte> expected = stackalloc byte[MacLength];
        ComputeMac(expiry, client, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, raw[8..]))
        {
            return NonceValidity.Stale;
        }

        return expiry == ulong.MaxValue || (ulong)_time.GetUtcNow().ToUnixTimeSeconds() < expiry ? NonceValidity.Valid : NonceValidity.Stale;
    }

    private void ComputeMac(ulong expiry, in TransportAddress client, Span<byte> destination)
    {
        Span<byte> input = stackalloc byte[8 + 16];
        BinaryPrimitives.WriteUInt64BigEndian(input, expiry);
        int length = 8 + client.WriteAddressBytes(input[8..]);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, input[..length], mac);
        mac[..MacLength].CopyTo(destination);
    }
}
