using System.Buffers.Binary;
using System.Security.Cryptography;

namespace TurnServer.Core.Auth;

/// <summary>
/// A key shared with an OAuth authorization server (RFC 7635 section 4.1), as coTURN keeps it in the turndb's
/// <c>oauth_key</c> table: tokens naming <see cref="Kid"/> are sealed with AES-GCM under <see cref="AsRsKey"/>.
/// </summary>
/// <param name="Kid">The key id; clients put it in USERNAME.</param>
/// <param name="AsRsKey">The AES key: 16 bytes for A128GCM, 32 for A256GCM.</param>
/// <param name="Timestamp">When the key became valid, Unix seconds (coTURN's <c>timestamp</c> column).</param>
/// <param name="Lifetime">How long it stays valid, seconds; 0 = for ever.</param>
public sealed record OAuthKey(string Kid, byte[] AsRsKey, long Timestamp, long Lifetime)
{
    /// <summary>
    /// Builds a key from coTURN's columns: <paramref name="ikmBase64"/> (the input keying material, base64; its first
    /// 16 or 32 bytes are the AES key, as coTURN uses them) and <paramref name="algorithm"/> (<c>A128GCM</c> or
    /// <c>A256GCM</c>, coTURN's only ones; empty means A256GCM). Null, with <paramref name="problem"/> saying why, for a
    /// key that cannot be used.
    /// </summary>
    public static OAuthKey? TryCreate(string kid, string ikmBase64, string algorithm, long timestamp, long lifetime, out string? problem)
    {
        int size = algorithm.Trim().ToUpperInvariant() switch
        {
            "A128GCM" => 16,
            "A256GCM" or "" => 32,
            _ => 0,
        };
        byte[] ikm;
        try
        {
            ikm = Convert.FromBase64String(ikmBase64.Trim());
        }
        catch (FormatException)
        {
            ikm = [];
        }

        problem = kid.Length == 0 ? "empty kid"
            : size == 0 ? $"algorithm '{algorithm}' is not A128GCM or A256GCM"
            : ikm.Length < size ? $"ikm_key is not base64 of at least {size} bytes"
            : null;
        return problem is null ? new OAuthKey(kid, ikm[..size], timestamp, lifetime) : null;
    }
}

/// <summary>Where OAuth keys come from (the user database); looked up per request, so it must not block.</summary>
public interface IOAuthKeySource
{
    /// <summary>The key named <paramref name="kid"/>, if this source has it.</summary>
    bool TryGetOAuthKey(string kid, out OAuthKey key);
}

/// <summary>
/// Opens RFC 7635 self-contained access tokens in coTURN's layout (its Appendix B with AES-GCM): nonce length (2 bytes,
/// network order, 12), nonce, then AES-GCM over {MAC key length (2), MAC key, timestamp (8: Unix seconds in the upper 48
/// bits, 1/64 K fractions below), lifetime (4, seconds)} with the server name as associated data, and the 16-byte tag.
/// </summary>
internal static class AccessTokens
{
    private const int NonceLength = 12;
    private const int TagLength = 16;

    /// <summary>Seconds of clock skew allowed past a key's or a token's end, as coTURN allows.</summary>
    private const int TimeDelta = 5;

    /// <summary>HMAC-SHA1 keys only: MESSAGE-INTEGRITY is HMAC-SHA1 (coTURN refuses other lengths too).</summary>
    private const int MacKeyLength = 20;

    /// <summary>
    /// The MAC key of <paramref name="token"/> sealed under <paramref name="key"/> for <paramref name="serverName"/>
    /// (UTF-8), or null when it does not open, has a MAC key that is not 20 bytes, or, at <paramref name="now"/> (Unix
    /// seconds), it or its key has expired. <paramref name="expiresAt"/> is when the first of the two does (Unix
    /// seconds, the allowance included; <see cref="long.MaxValue"/> when both have lifetime 0).
    /// </summary>
    public static byte[]? TryOpen(ReadOnlySpan<byte> token, OAuthKey key, ReadOnlySpan<byte> serverName, long now, out long expiresAt)
    {
        expiresAt = 0;
        long keyExpiresAt = key.Lifetime > 0 ? key.Timestamp + key.Lifetime + TimeDelta : long.MaxValue;
        if (now >= keyExpiresAt)
        {
            return null;
        }

        if (token.Length < 2 + NonceLength + TagLength + 2 || BinaryPrimitives.ReadUInt16BigEndian(token) != NonceLength)
        {
            return null;
        }

        ReadOnlySpan<byte> nonce = token.Slice(2, NonceLength);
        ReadOnlySpan<byte> sealedBlock = token[(2 + NonceLength)..^TagLength];
        Span<byte> block = sealedBlock.Length <= 256 ? stackalloc byte[sealedBlock.Length] : new byte[sealedBlock.Length];
        try
        {
            using var aes = new AesGcm(key.AsRsKey, TagLength);
            aes.Decrypt(nonce, sealedBlock, token[^TagLength..], block, serverName);
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }

        int macLength = BinaryPrimitives.ReadUInt16BigEndian(block);
        if (macLength != MacKeyLength || block.Length != 2 + macLength + 8 + 4)
        {
            return null;
        }

        long issued = (long)(BinaryPrimitives.ReadUInt64BigEndian(block[(2 + macLength)..]) >> 16);
        uint lifetime = BinaryPrimitives.ReadUInt32BigEndian(block[(2 + macLength + 8)..]);
        expiresAt = Math.Min(keyExpiresAt, lifetime > 0 ? issued + lifetime + TimeDelta : long.MaxValue);
        if (now >= expiresAt)
        {
            return null;
        }

        return block.Slice(2, macLength).ToArray();
    }
}
