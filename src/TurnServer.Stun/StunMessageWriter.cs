using System.Buffers.Binary;
using System.Text;

namespace TurnServer.Stun;

/// <summary>
/// Writes one STUN message into a caller's buffer, attribute by attribute, keeping the header's length field current
/// so that MESSAGE-INTEGRITY and FINGERPRINT can be appended last (RFC 8489 sections 14.5-14.7). Padding bytes are
/// zero. A buffer too small for what is written is a programmer error and throws <see cref="ArgumentException"/>:
/// size buffers for the largest message you build.
/// </summary>
public ref struct StunMessageWriter
{
    private readonly Span<byte> _buffer;
    private int _position;

    /// <summary>Starts a message of <paramref name="method"/>/<paramref name="messageClass"/> with <paramref name="transactionId"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="buffer"/> is shorter than the 20-byte header.</exception>
    public StunMessageWriter(Span<byte> buffer, StunMethod method, StunMessageClass messageClass, TransactionId transactionId)
    {
        if (buffer.Length < StunConstants.HeaderLength)
        {
            throw new ArgumentException("The buffer cannot hold a STUN header.", nameof(buffer));
        }

        _buffer = buffer;
        BinaryPrimitives.WriteUInt16BigEndian(buffer, StunMessageType.Encode(method, messageClass));
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[4..], StunConstants.MagicCookie);
        transactionId.CopyTo(buffer[8..]);
        _position = StunConstants.HeaderLength;
    }

    /// <summary>Bytes written so far, header included.</summary>
    public readonly int Length => _position;

    /// <summary>The message written so far.</summary>
    public readonly ReadOnlySpan<byte> Written => _buffer[.._position];

    private readonly ReadOnlySpan<byte> Header => _buffer[..StunConstants.HeaderLength];

    /// <summary>
    /// Appends an attribute header for <paramref name="valueLength"/> bytes and returns the value span to fill.
    /// Padding after it is zeroed.
    /// </summary>
    public Span<byte> AppendAttribute(ushort type, int valueLength)
    {
        int padded = (valueLength + 3) & ~3;
        int total = StunConstants.AttributeHeaderLength + padded;
        if (valueLength > ushort.MaxValue || _position + total > _buffer.Length || _position + total - StunConstants.HeaderLength > 0xFFFC)
        {
            throw new ArgumentException("The STUN message does not fit the buffer.");
        }

        Span<byte> attribute = _buffer.Slice(_position, total);
        BinaryPrimitives.WriteUInt16BigEndian(attribute, type);
        BinaryPrimitives.WriteUInt16BigEndian(attribute[2..], (ushort)valueLength);
        attribute[(StunConstants.AttributeHeaderLength + valueLength)..].Clear();
        _position += total;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], (ushort)(_position - StunConstants.HeaderLength));
        return attribute.Slice(StunConstants.AttributeHeaderLength, valueLength);
    }

    /// <summary>Appends an attribute with <paramref name="value"/> as its value.</summary>
    public void WriteAttribute(StunAttributeType type, scoped ReadOnlySpan<byte> value) => value.CopyTo(AppendAttribute((ushort)type, value.Length));

    /// <summary>Appends an attribute whose value is <paramref name="text"/> in UTF-8 (USERNAME, REALM, NONCE, SOFTWARE).</summary>
    public void WriteText(StunAttributeType type, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Encoding.UTF8.GetBytes(text, AppendAttribute((ushort)type, Encoding.UTF8.GetByteCount(text)));
    }

    /// <summary>Appends a 4-byte unsigned attribute (LIFETIME in seconds), network order.</summary>
    public void WriteUInt32(StunAttributeType type, uint value) => BinaryPrimitives.WriteUInt32BigEndian(AppendAttribute((ushort)type, 4), value);

    /// <summary>Appends an 8-byte attribute (RESERVATION-TOKEN), network order.</summary>
    public void WriteUInt64(StunAttributeType type, ulong value) => BinaryPrimitives.WriteUInt64BigEndian(AppendAttribute((ushort)type, 8), value);

    /// <summary>Appends a 4-byte attribute whose first byte is <paramref name="value"/> and the rest zero (REQUESTED-TRANSPORT, *-ADDRESS-FAMILY).</summary>
    public void WriteLeadingByte(StunAttributeType type, byte value)
    {
        Span<byte> v = AppendAttribute((ushort)type, 4);
        v.Clear();
        v[0] = value;
    }

    /// <summary>Appends CHANNEL-NUMBER (RFC 8656 section 18.1).</summary>
    public void WriteChannelNumber(ushort channelNumber)
    {
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.ChannelNumber, 4);
        BinaryPrimitives.WriteUInt16BigEndian(v, channelNumber);
        BinaryPrimitives.WriteUInt16BigEndian(v[2..], 0);
    }

    /// <summary>Appends an XOR address attribute (XOR-MAPPED-, XOR-PEER-, XOR-RELAYED-ADDRESS), RFC 8489 section 14.2.</summary>
    public void WriteXorAddress(StunAttributeType type, in TransportAddress address)
    {
        Span<byte> v = AppendAttribute((ushort)type, StunAddressCodec.GetValueLength(address));
        StunAddressCodec.Encode(v, address, Header);
    }

    /// <summary>Appends a plain address attribute (MAPPED-ADDRESS, ALTERNATE-SERVER), RFC 8489 section 14.1.</summary>
    public void WriteAddress(StunAttributeType type, in TransportAddress address)
    {
        Span<byte> v = AppendAttribute((ushort)type, StunAddressCodec.GetValueLength(address));
        StunAddressCodec.Encode(v, address, default);
    }

    /// <summary>Appends ERROR-CODE (RFC 8489 section 14.8) for <paramref name="code"/> 300..699 with its standard reason phrase.</summary>
    public void WriteErrorCode(int code) => WriteErrorCode(code, StunErrorCodes.GetReasonPhrase(code));

    /// <summary>Appends ERROR-CODE (RFC 8489 section 14.8) with a UTF-8 reason phrase.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="code"/> is outside 300..699.</exception>
    public void WriteErrorCode(int code, scoped ReadOnlySpan<byte> reasonPhrase)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(code, 300);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(code, 699);
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.ErrorCode, 4 + reasonPhrase.Length);
        v[0] = 0;
        v[1] = 0;
        v[2] = (byte)(code / 100);
        v[3] = (byte)(code % 100);
        reasonPhrase.CopyTo(v[4..]);
    }

    /// <summary>Appends ADDRESS-ERROR-CODE (RFC 8656 section 18.12) for the family byte (0x01/0x02) and code.</summary>
    public void WriteAddressErrorCode(byte family, int code)
    {
        ReadOnlySpan<byte> reason = StunErrorCodes.GetReasonPhrase(code);
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.AddressErrorCode, 4 + reason.Length);
        v[0] = family;
        v[1] = 0;
        v[2] = (byte)(code / 100);
        v[3] = (byte)(code % 100);
        reason.CopyTo(v[4..]);
    }

    /// <summary>Appends UNKNOWN-ATTRIBUTES (RFC 8489 section 14.9).</summary>
    public void WriteUnknownAttributes(scoped ReadOnlySpan<ushort> types)
    {
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.UnknownAttributes, types.Length * 2);
        for (int i = 0; i < types.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(v[(i * 2)..], types[i]);
        }
    }

    /// <summary>
    /// Appends PASSWORD-ALGORITHMS (RFC 8489 section 14.11): each algorithm (0x0001 MD5, 0x0002 SHA-256) with empty
    /// parameters.
    /// </summary>
    public void WritePasswordAlgorithms(scoped ReadOnlySpan<ushort> algorithms)
    {
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.PasswordAlgorithms, algorithms.Length * 4);
        for (int i = 0; i < algorithms.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(v[(i * 4)..], algorithms[i]);
            BinaryPrimitives.WriteUInt16BigEndian(v[((i * 4) + 2)..], 0);
        }
    }

    /// <summary>Appends PASSWORD-ALGORITHM (RFC 8489 section 14.12) with empty parameters.</summary>
    public void WritePasswordAlgorithm(ushort algorithm)
    {
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.PasswordAlgorithm, 4);
        BinaryPrimitives.WriteUInt16BigEndian(v, algorithm);
        BinaryPrimitives.WriteUInt16BigEndian(v[2..], 0);
    }

    /// <summary>Appends ICMP (RFC 8656 section 18.13): 2 reserved bytes, ICMP type, ICMP code, 4 bytes of error data.</summary>
    public void WriteIcmp(byte type, byte code, uint errorData)
    {
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.Icmp, 8);
        v[0] = 0;
        v[1] = 0;
        v[2] = type;
        v[3] = code;
        BinaryPrimitives.WriteUInt32BigEndian(v[4..], errorData);
    }

    /// <summary>Appends MESSAGE-INTEGRITY (HMAC-SHA1 with <paramref name="key"/>), RFC 8489 section 14.5.</summary>
    public void WriteMessageIntegrity(scoped ReadOnlySpan<byte> key) => WriteIntegrity(StunAttributeType.MessageIntegrity, StunConstants.MessageIntegrityLength, key, sha256: false);

    /// <summary>Appends MESSAGE-INTEGRITY-SHA256 (full 32 bytes), RFC 8489 section 14.6.</summary>
    public void WriteMessageIntegritySha256(scoped ReadOnlySpan<byte> key) => WriteIntegrity(StunAttributeType.MessageIntegritySha256, StunConstants.MessageIntegritySha256Length, key, sha256: true);

    /// <summary>Appends FINGERPRINT (RFC 8489 section 14.7); must be the last attribute.</summary>
    public void WriteFingerprint()
    {
        int start = _position;
        Span<byte> v = AppendAttribute((ushort)StunAttributeType.Fingerprint, StunConstants.FingerprintLength);
        BinaryPrimitives.WriteUInt32BigEndian(v, Fingerprint.Compute(_buffer[..start]));
    }

    private void WriteIntegrity(StunAttributeType type, int length, scoped ReadOnlySpan<byte> key, bool sha256)
    {
        int start = _position;
        Span<byte> v = AppendAttribute((ushort)type, length);
        Span<byte> mac = stackalloc byte[StunConstants.MessageIntegritySha256Length];
        MessageIntegrity.Compute(_buffer[..start], key, mac, sha256);
        mac[..length].CopyTo(v);
    }
}
