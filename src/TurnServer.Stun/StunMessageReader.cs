using System.Buffers.Binary;

namespace TurnServer.Stun;

/// <summary>
/// A parsed view over one STUN message (RFC 8489 section 5) in a caller's buffer. Parsing validates the header and
/// walks the attributes once, recording where MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT sit and
/// checking the FINGERPRINT CRC; it allocates nothing and never throws for bad input. Attribute getters scan the
/// attributes that precede the integrity attributes, returning the first occurrence (RFC 8489 section 14).
/// </summary>
public readonly ref struct StunMessageReader
{
    private readonly ReadOnlySpan<byte> _message;
    private readonly int _attributesEnd;
    private readonly int _integrityOffset;
    private readonly int _integritySha256Offset;
    private readonly int _fingerprintOffset;

    private StunMessageReader(ReadOnlySpan<byte> message, int attributesEnd, int integrityOffset, int integritySha256Offset, int fingerprintOffset)
    {
        _message = message;
        _attributesEnd = attributesEnd;
        _integrityOffset = integrityOffset;
        _integritySha256Offset = integritySha256Offset;
        _fingerprintOffset = fingerprintOffset;
        StunMessageType.Decode(BinaryPrimitives.ReadUInt16BigEndian(message), out StunMethod method, out StunMessageClass messageClass);
        Method = method;
        Class = messageClass;
    }

    /// <summary>The method (12 bits).</summary>
    public StunMethod Method { get; }

    /// <summary>The class.</summary>
    public StunMessageClass Class { get; }

    /// <summary>The transaction ID (bytes 8..19).</summary>
    public TransactionId TransactionId => TransactionId.Read(_message.Slice(8, StunConstants.TransactionIdLength));

    /// <summary>The whole message, header included: 20 + length bytes.</summary>
    public ReadOnlySpan<byte> Bytes => _message;

    /// <summary>The 20-byte header, needed to decode XOR addresses.</summary>
    public ReadOnlySpan<byte> Header => _message[..StunConstants.HeaderLength];

    /// <summary>True when MESSAGE-INTEGRITY is present.</summary>
    public bool HasMessageIntegrity => _integrityOffset >= 0;

    /// <summary>True when MESSAGE-INTEGRITY-SHA256 is present.</summary>
    public bool HasMessageIntegritySha256 => _integritySha256Offset >= 0;

    /// <summary>
    /// Bytes in the MESSAGE-INTEGRITY-SHA256 value: 32, or 16 to 28 when truncated (RFC 8489 section 14.6, only where
    /// a STUN usage allows it); 0 when absent.
    /// </summary>
    public int MessageIntegritySha256Length =>
        _integritySha256Offset < 0 ? 0 : System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(_message[(_integritySha256Offset + 2)..]);

    /// <summary>True when a FINGERPRINT is present (and, since parsing succeeded, valid).</summary>
    public bool HasFingerprint => _fingerprintOffset >= 0;

    /// <summary>
    /// Reads the total length (20 + length field) of the STUN message that starts <paramref name="buffer"/>, or -1
    /// if fewer than 4 bytes are there. Used by stream framing, which has not yet received the whole message.
    /// </summary>
    public static int PeekMessageLength(ReadOnlySpan<byte> buffer) =>
        buffer.Length < 4 ? -1 : StunConstants.HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);

    /// <summary>
    /// Parses <paramref name="buffer"/>, which must hold exactly one message (20 + length bytes).
    /// </summary>
    /// <returns><see cref="StunParseResult.Success"/> with <paramref name="message"/> set, or the first problem found.</returns>
    public static StunParseResult TryParse(ReadOnlySpan<byte> buffer, out StunMessageReader message)
    {
        message = default;
        if (buffer.Length < StunConstants.HeaderLength)
        {
            return StunParseResult.TooShort;
        }

        if ((buffer[0] & 0xC0) != 0)
        {
            return StunParseResult.NotStun;
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(buffer[4..]) != StunConstants.MagicCookie)
        {
            return StunParseResult.BadMagicCookie;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if ((length & 3) != 0 || StunConstants.HeaderLength + length != buffer.Length)
        {
            return StunParseResult.BadLength;
        }

        int end = buffer.Length;
        int position = StunConstants.HeaderLength;
        int attributesEnd = -1, integrity = -1, integritySha256 = -1, fingerprint = -1;
        while (position < end)
        {
            if (end - position < StunConstants.AttributeHeaderLength)
            {
                return StunParseResult.BadAttribute;
            }

            if (fingerprint >= 0)
            {
                return StunParseResult.AttributeAfterFingerprint;
            }

            var type = (StunAttributeType)BinaryPrimitives.ReadUInt16BigEndian(buffer[position..]);
            int valueLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[(position + 2)..]);
            int next = position + StunConstants.AttributeHeaderLength + ((valueLength + 3) & ~3);
            if (next > end)
            {
                return StunParseResult.BadAttribute;
            }

            switch (type)
            {
                case StunAttributeType.MessageIntegrity:
                    if (valueLength != StunConstants.MessageIntegrityLength)
                    {
                        return StunParseResult.BadAttribute;
                    }

                    // Only the first integrity attribute counts; one after MESSAGE-INTEGRITY-SHA256 is ignored (section 14.5).
                    if (integrity < 0 && integritySha256 < 0)
                    {
                        integrity = position;
                        attributesEnd = attributesEnd < 0 ? position : attributesEnd;
                    }

                    break;
                case StunAttributeType.MessageIntegritySha256:
                    if (valueLength < 16 || valueLength > StunConstants.MessageIntegritySha256Length || (valueLength & 3) != 0)
                    {
                        return StunParseResult.BadAttribute;
                    }

                    if (integritySha256 < 0)
                    {
                        integritySha256 = position;
                        attributesEnd = attributesEnd < 0 ? position : attributesEnd;
                    }

                    break;
                case StunAttributeType.Fingerprint:
                    if (valueLength != StunConstants.FingerprintLength)
                    {
                        return StunParseResult.BadAttribute;
                    }

                    fingerprint = position;
                    attributesEnd = attributesEnd < 0 ? position : attributesEnd;
                    break;
            }

            position = next;
        }

        if (fingerprint >= 0 && !Fingerprint.IsValid(buffer, fingerprint))
        {
            return StunParseResult.BadFingerprint;
        }

        message = new StunMessageReader(buffer, attributesEnd < 0 ? end : attributesEnd, integrity, integritySha256, fingerprint);
        return StunParseResult.Success;
    }

    /// <summary>Enumerates the attributes before the integrity and fingerprint attributes, in order.</summary>
    public StunAttributeEnumerator GetAttributes() => new(_message[.._attributesEnd]);

    /// <summary>Finds the first attribute of <paramref name="type"/> and returns its value (without padding).</summary>
    public bool TryGetAttribute(StunAttributeType type, out ReadOnlySpan<byte> value)
    {
        foreach (StunAttribute attribute in GetAttributes())
        {
            if (attribute.Type == (ushort)type)
            {
                value = attribute.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>True when an attribute of <paramref name="type"/> is present.</summary>
    public bool HasAttribute(StunAttributeType type) => TryGetAttribute(type, out _);

    /// <summary>Decodes an XOR address attribute (XOR-MAPPED-, XOR-PEER-, XOR-RELAYED-ADDRESS). False if absent or malformed.</summary>
    public bool TryGetXorAddress(StunAttributeType type, out TransportAddress address)
    {
        address = default;
        return TryGetAttribute(type, out ReadOnlySpan<byte> value) && StunAddressCodec.TryDecode(value, Header, out address);
    }

    /// <summary>Decodes a plain address attribute (MAPPED-ADDRESS, ALTERNATE-SERVER). False if absent or malformed.</summary>
    public bool TryGetAddress(StunAttributeType type, out TransportAddress address)
    {
        address = default;
        return TryGetAttribute(type, out ReadOnlySpan<byte> value) && StunAddressCodec.TryDecode(value, default, out address);
    }

    /// <summary>Reads a 4-byte unsigned value such as LIFETIME (seconds). False if absent or not 4 bytes.</summary>
    public bool TryGetUInt32(StunAttributeType type, out uint result)
    {
        if (TryGetAttribute(type, out ReadOnlySpan<byte> value) && value.Length == 4)
        {
            result = BinaryPrimitives.ReadUInt32BigEndian(value);
            return true;
        }

        result = 0;
        return false;
    }

    /// <summary>Reads CHANNEL-NUMBER (RFC 8656 section 18.1): 16-bit number then 16 RFFU bits. False if absent or not 4 bytes.</summary>
    public bool TryGetChannelNumber(out ushort channelNumber)
    {
        if (TryGetAttribute(StunAttributeType.ChannelNumber, out ReadOnlySpan<byte> value) && value.Length == 4)
        {
            channelNumber = BinaryPrimitives.ReadUInt16BigEndian(value);
            return true;
        }

        channelNumber = 0;
        return false;
    }

    /// <summary>
    /// Reads the first byte of a 4-byte attribute: the protocol number of REQUESTED-TRANSPORT (17 UDP, 6 TCP) or the
    /// family of REQUESTED-/ADDITIONAL-ADDRESS-FAMILY (0x01 IPv4, 0x02 IPv6). False if absent or not 4 bytes.
    /// </summary>
    public bool TryGetLeadingByte(StunAttributeType type, out byte result)
    {
        if (TryGetAttribute(type, out ReadOnlySpan<byte> value) && value.Length == 4)
        {
            result = value[0];
            return true;
        }

        result = 0;
        return false;
    }

    /// <summary>Reads EVEN-PORT (RFC 8656 section 18.7): the R bit asks to reserve the next port. False if absent or empty.</summary>
    public bool TryGetEvenPort(out bool reserveNextPort)
    {
        if (TryGetAttribute(StunAttributeType.EvenPort, out ReadOnlySpan<byte> value) && value.Length >= 1)
        {
            reserveNextPort = (value[0] & 0x80) != 0;
            return true;
        }

        reserveNextPort = false;
        return false;
    }

    /// <summary>Reads the 8-byte RESERVATION-TOKEN. False if absent or not 8 bytes.</summary>
    public bool TryGetReservationToken(out ulong token)
    {
        if (TryGetAttribute(StunAttributeType.ReservationToken, out ReadOnlySpan<byte> value) && value.Length == 8)
        {
            token = BinaryPrimitives.ReadUInt64BigEndian(value);
            return true;
        }

        token = 0;
        return false;
    }

    /// <summary>Reads ERROR-CODE (RFC 8489 section 14.8): code 300..699 and the UTF-8 reason phrase.</summary>
    public bool TryGetErrorCode(out int code, out ReadOnlySpan<byte> reasonPhrase)
    {
        if (TryGetAttribute(StunAttributeType.ErrorCode, out ReadOnlySpan<byte> value) && value.Length >= 4)
        {
            code = ((value[2] & 0x07) * 100) + value[3];
            reasonPhrase = value[4..];
            return true;
        }

        code = 0;
        reasonPhrase = default;
        return false;
    }

    /// <summary>Reads PASSWORD-ALGORITHM (RFC 8489 section 14.12): the 16-bit algorithm (1 MD5, 2 SHA-256). False if absent or malformed.</summary>
    public bool TryGetPasswordAlgorithm(out ushort algorithm)
    {
        if (TryGetAttribute(StunAttributeType.PasswordAlgorithm, out ReadOnlySpan<byte> value) && value.Length >= 4
            && value.Length == 4 + BinaryPrimitives.ReadUInt16BigEndian(value[2..]))
        {
            algorithm = BinaryPrimitives.ReadUInt16BigEndian(value);
            return true;
        }

        algorithm = 0;
        return false;
    }

    /// <summary>
    /// Copies the algorithms of PASSWORD-ALGORITHMS (RFC 8489 section 14.11) into <paramref name="destination"/>;
    /// returns how many, or -1 when absent or malformed.
    /// </summary>
    public int GetPasswordAlgorithms(Span<ushort> destination)
    {
        if (!TryGetAttribute(StunAttributeType.PasswordAlgorithms, out ReadOnlySpan<byte> value))
        {
            return -1;
        }

        int count = 0;
        while (value.Length >= 4)
        {
            int parameters = (BinaryPrimitives.ReadUInt16BigEndian(value[2..]) + 3) & ~3;
            if (4 + parameters > value.Length)
            {
                return -1;
            }

            if (count < destination.Length)
            {
                destination[count] = BinaryPrimitives.ReadUInt16BigEndian(value);
            }

            count++;
            value = value[(4 + parameters)..];
        }

        return value.IsEmpty ? Math.Min(count, destination.Length) : -1;
    }

    /// <summary>Reads ICMP (RFC 8656 section 18.13): type, code and error data. False if absent or not 8 bytes.</summary>
    public bool TryGetIcmp(out byte type, out byte code, out uint errorData)
    {
        if (TryGetAttribute(StunAttributeType.Icmp, out ReadOnlySpan<byte> value) && value.Length == 8)
        {
            type = value[2];
            code = value[3];
            errorData = BinaryPrimitives.ReadUInt32BigEndian(value[4..]);
            return true;
        }

        type = 0;
        code = 0;
        errorData = 0;
        return false;
    }

    /// <summary>
    /// Copies into <paramref name="destination"/> the types of comprehension-required attributes this codec does not
    /// understand (RFC 8489 section 6.3.1), each once, and returns how many were found (at most the destination length).
    /// </summary>
    public int GetUnknownComprehensionRequired(Span<ushort> destination)
    {
        int count = 0;
        foreach (StunAttribute attribute in GetAttributes())
        {
            if (!StunAttributeTypes.IsUnderstood(attribute.Type) && destination[..count].IndexOf(attribute.Type) < 0 && count < destination.Length)
            {
                destination[count++] = attribute.Type;
            }
        }

        return count;
    }

    /// <summary>
    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 section 14.5) with <paramref name="key"/>: for long-term
    /// credentials the 16-byte MD5 of <c>username:realm:password</c>. Constant-time compare. False when absent.
    /// </summary>
    public bool VerifyMessageIntegrity(ReadOnlySpan<byte> key) =>
        _integrityOffset >= 0 && MessageIntegrity.Verify(_message, _integrityOffset, key, sha256: false);

    /// <summary>Checks MESSAGE-INTEGRITY-SHA256 (RFC 8489 section 14.6), possibly truncated. False when absent.</summary>
    public bool VerifyMessageIntegritySha256(ReadOnlySpan<byte> key) =>
        _integritySha256Offset >= 0 && MessageIntegrity.Verify(_message, _integritySha256Offset, key, sha256: true);
}

/// <summary>One attribute: its 16-bit type and its value without padding.</summary>
public readonly ref struct StunAttribute
{
    /// <summary>An attribute of <paramref name="type"/> whose value (padding excluded) is <paramref name="value"/>.</summary>
    internal StunAttribute(ushort type, ReadOnlySpan<byte> value)
    {
        Type = type;
        Value = value;
    }

    /// <summary>The attribute type (host order).</summary>
    public ushort Type { get; }

    /// <summary>The value, <c>length</c> bytes, padding excluded.</summary>
    public ReadOnlySpan<byte> Value { get; }
}

/// <summary>Walks attributes of an already validated message. Use with <c>foreach</c>.</summary>
public ref struct StunAttributeEnumerator
{
    private readonly ReadOnlySpan<byte> _message;
    private int _next;
    private StunAttribute _current;

    /// <summary>Walks the attributes of <paramref name="messageUpToEnd"/>: a validated message from its header up to where enumeration stops.</summary>
    internal StunAttributeEnumerator(ReadOnlySpan<byte> messageUpToEnd)
    {
        _message = messageUpToEnd;
        _next = StunConstants.HeaderLength;
        _current = default;
    }

    /// <summary>The attribute at the current position.</summary>
    public readonly StunAttribute Current => _current;

    /// <summary>Returns this enumerator, for <c>foreach</c>.</summary>
    public readonly StunAttributeEnumerator GetEnumerator() => this;

    /// <summary>Advances to the next attribute; false at the end.</summary>
    public bool MoveNext()
    {
        if (_next + StunConstants.AttributeHeaderLength > _message.Length)
        {
            return false;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(_message[_next..]);
        int length = BinaryPrimitives.ReadUInt16BigEndian(_message[(_next + 2)..]);
        _current = new StunAttribute(type, _message.Slice(_next + StunConstants.AttributeHeaderLength, length));
        _next += StunConstants.AttributeHeaderLength + ((length + 3) & ~3);
        return true;
    }
}
