using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace TurnServer.Stun;

/// <summary>
/// MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 section 14.5), MESSAGE-INTEGRITY-SHA256 (section 14.6) and the long-term
/// credential key (section 9.2.2). The HMAC covers the header and every attribute before the integrity attribute,
/// with the header's length field set as if the integrity attribute were the last one.
/// </summary>
public static class MessageIntegrity
{
    private const int StackCopyLimit = 1024;

    /// <summary>Length in bytes of the MD5 long-term key.</summary>
    public const int LongTermKeyLength = 16;

    /// <summary>
    /// The long-term credential key, MD5(username ":" realm ":" password) over UTF-8 (RFC 8489 section 9.2.2), 16 bytes.
    /// This is what <c>turnadmin -k</c> prints in hex and what <c>user=name:0x...</c> holds. Passwords are used
    /// as given: no SASLprep, as coTURN does.
    /// </summary>
    public static byte[] ComputeLongTermKey(string username, string realm, string password)
    {
        ArgumentNullException.ThrowIfNull(username);
        ArgumentNullException.ThrowIfNull(realm);
        ArgumentNullException.ThrowIfNull(password);
        return MD5.HashData(Encoding.UTF8.GetBytes(username + ":" + realm + ":" + password));
    }

    /// <summary>The SHA-256 form of the long-term key (PASSWORD-ALGORITHM 0x0002, RFC 8489 section 18.5), 32 bytes.</summary>
    public static byte[] ComputeLongTermKeySha256(string username, string realm, string password)
    {
        ArgumentNullException.ThrowIfNull(username);
        ArgumentNullException.ThrowIfNull(realm);
        ArgumentNullException.ThrowIfNull(password);
        return SHA256.HashData(Encoding.UTF8.GetBytes(username + ":" + realm + ":" + password));
    }

    /// <summary>USERHASH (RFC 8489 section 14.4): SHA-256 of <c>username ":" realm</c> in UTF-8, 32 bytes.</summary>
    public static byte[] ComputeUserHash(string username, string realm)
    {
        ArgumentNullException.ThrowIfNull(username);
        ArgumentNullException.ThrowIfNull(realm);
        return SHA256.HashData(Encoding.UTF8.GetBytes(username + ":" + realm));
    }

    /// <summary>
    /// Computes the HMAC for an integrity attribute about to be appended after <paramref name="messagePrefix"/>,
    /// whose header length field the caller has already set to include that attribute.
    /// Writes 20 (SHA1) or 32 (SHA256) bytes into <paramref name="mac"/>.
    /// </summary>
    internal static void Compute(ReadOnlySpan<byte> messagePrefix, ReadOnlySpan<byte> key, Span<byte> mac, bool sha256)
    {
        if (sha256)
        {
            HMACSHA256.HashData(key, messagePrefix, mac);
        }
        else
        {
            HMACSHA1.HashData(key, messagePrefix, mac);
        }
    }

    /// <summary>Verifies the integrity attribute at <paramref name="attributeOffset"/> of a parsed message.</summary>
    internal static bool Verify(ReadOnlySpan<byte> message, int attributeOffset, ReadOnlySpan<byte> key, bool sha256)
    {
        int valueLength = BinaryPrimitives.ReadUInt16BigEndian(message[(attributeOffset + 2)..]);
        ReadOnlySpan<byte> received = message.Slice(attributeOffset + StunConstants.AttributeHeaderLength, valueLength);

        // The HMAC input is the message up to the attribute, with the length field covering the attribute too.
        byte[]? rented = null;
        Span<byte> copy = attributeOffset <= StackCopyLimit
            ? stackalloc byte[StackCopyLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(attributeOffset));
        copy = copy[..attributeOffset];
        message[..attributeOffset].CopyTo(copy);
        BinaryPrimitives.WriteUInt16BigEndian(
            copy[2..],
            (ushort)(attributeOffset - StunConstants.HeaderLength + StunConstants.AttributeHeaderLength + valueLength));

        Span<byte> mac = stackalloc byte[StunConstants.MessageIntegritySha256Length];
        Compute(copy, key, mac, sha256);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return CryptographicOperations.FixedTimeEquals(mac[..valueLength], received);
    }
}
