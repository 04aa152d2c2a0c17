using System.Buffers.Binary;

namespace TurnServer.Hosting.Dtls;

/// <summary>
/// Header checks on raw DTLS datagrams (RFC 6347 section 4.1), done before any datagram reaches BouncyCastle so that
/// junk costs a few comparisons instead of a session or a decryption.
/// </summary>
internal static class DtlsRecord
{
    /// <summary>DTLSPlaintext header: type (1), version (2), epoch (2), sequence_number (6), length (2).</summary>
    public const int HeaderLength = 13;

    /// <summary>
    /// Bytes a record adds to the message it seals with the AES-GCM suites the server offers: the header, the 8-byte
    /// explicit nonce and the 16-byte tag (RFC 5288 section 3).
    /// </summary>
    public const int SealingOverhead = HeaderLength + 8 + 16;

    /// <summary>Handshake header: msg_type (1), length (3), message_seq (2), fragment_offset (3), fragment_length (3).</summary>
    private const int HandshakeHeaderLength = 12;

    /// <summary>client_version (2) + random (32) + session_id length (1): the least a ClientHello body can hold.</summary>
    private const int MinClientHelloBody = 35;

    private const byte ContentTypeChangeCipherSpec = 20;
    private const byte ContentTypeAlert = 21;
    private const byte ContentTypeHandshake = 22;
    private const byte AlertLevelFatal = 2;
    private const byte AlertProtocolVersion = 70;
    private const ushort Dtls12 = 0xFEFD;
    private const byte HandshakeTypeClientHello = 1;

    /// <summary>Every DTLS version (1.0 is 0xFEFF, 1.2 is 0xFEFD) has major byte 0xFE.</summary>
    private const byte DtlsMajorVersion = 0xFE;

    /// <summary>
    /// True when <paramref name="datagram"/> starts with a record BouncyCastle could use: a content type from
    /// change_cipher_spec (20) to tls12_cid (25), a DTLS version, and a length that fits the datagram.
    /// </summary>
    public static bool StartsWithRecord(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= HeaderLength
        && datagram[0] is >= 20 and <= 25
        && datagram[1] == DtlsMajorVersion
        && HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(datagram[11..]) <= datagram.Length;

    /// <summary>The first record of <paramref name="datagram"/>, which <see cref="StartsWithRecord"/> accepted.</summary>
    public static ReadOnlySpan<byte> FirstRecord(ReadOnlySpan<byte> datagram) =>
        datagram[..(HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(datagram[11..]))];

    /// <summary>The epoch of the first record of <paramref name="datagram"/>, which <see cref="StartsWithRecord"/> accepted.</summary>
    public static int Epoch(ReadOnlySpan<byte> datagram) => BinaryPrimitives.ReadUInt16BigEndian(datagram[3..]);

    /// <summary>The 48-bit sequence number of the first record of <paramref name="datagram"/>, which <see cref="StartsWithRecord"/> accepted.</summary>
    public static long SequenceNumber(ReadOnlySpan<byte> datagram) => (long)(BinaryPrimitives.ReadUInt64BigEndian(datagram[3..]) & 0xFFFF_FFFF_FFFF);

    /// <summary>
    /// True when one of the records of <paramref name="datagram"/> is a ChangeCipherSpec; the walk stops at the first
    /// length that overruns the datagram.
    /// </summary>
    public static bool ContainsChangeCipherSpec(ReadOnlySpan<byte> datagram)
    {
        while (StartsWithRecord(datagram))
        {
            if (datagram[0] == ContentTypeChangeCipherSpec)
            {
                return true;
            }

            datagram = datagram[(HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(datagram[11..]))..];
        }

        return false;
    }

    /// <summary>
    /// True when <paramref name="datagram"/> opens a new handshake: an epoch-0 handshake record whose first message is
    /// the first fragment of a ClientHello with message_seq 0. Only such a datagram may create a session; a
    /// ClientHello with a later message_seq answers a HelloVerifyRequest this server never sent.
    /// </summary>
    public static bool IsInitialClientHello(ReadOnlySpan<byte> datagram)
    {
        if (!StartsWithRecord(datagram) || datagram[0] != ContentTypeHandshake || BinaryPrimitives.ReadUInt16BigEndian(datagram[3..]) != 0)
        {
            return false;
        }

        ReadOnlySpan<byte> fragment = datagram.Slice(HeaderLength, BinaryPrimitives.ReadUInt16BigEndian(datagram[11..]));
        if (fragment.Length < HandshakeHeaderLength + MinClientHelloBody || fragment[0] != HandshakeTypeClientHello)
        {
            return false;
        }

        int messageLength = ReadUInt24(fragment[1..]);
        int messageSeq = BinaryPrimitives.ReadUInt16BigEndian(fragment[4..]);
        int fragmentOffset = ReadUInt24(fragment[6..]);
        int fragmentLength = ReadUInt24(fragment[9..]);
        return messageSeq == 0
            && fragmentOffset == 0
            && fragmentLength >= MinClientHelloBody
            && fragmentLength <= messageLength
            && HandshakeHeaderLength + fragmentLength <= fragment.Length;
    }

    /// <summary>
    /// True when the initial ClientHello in <paramref name="datagram"/> (see <see cref="IsInitialClientHello"/>) asks for
    /// a version older than DTLS 1.2 (DTLS numbers versions downwards: 1.0 is 0xFEFF, 1.2 is 0xFEFD); its record
    /// version, for the answer, is in <paramref name="recordVersion"/>.
    /// </summary>
    public static bool OffersOnlyOlderThanDtls12(ReadOnlySpan<byte> datagram, out ushort recordVersion)
    {
        recordVersion = BinaryPrimitives.ReadUInt16BigEndian(datagram[1..]);
        return BinaryPrimitives.ReadUInt16BigEndian(datagram[(HeaderLength + HandshakeHeaderLength)..]) > Dtls12;
    }

    /// <summary>
    /// Writes the record a server answers an unsupported ClientHello with: a fatal protocol_version alert (RFC 5246
    /// section 7.2.2) in epoch 0, record sequence number 0, the client's record version. Returns its length (15).
    /// BouncyCastle sends no alert before it has chosen a version, and without one OpenSSL clients retransmit their
    /// ClientHello for minutes instead of failing (turnutils_uclient then retries with another DTLS version).
    /// </summary>
    public static int WriteProtocolVersionAlert(Span<byte> destination, ushort recordVersion)
    {
        destination[..HeaderLength].Clear();
        destination[0] = ContentTypeAlert;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], recordVersion);
        BinaryPrimitives.WriteUInt16BigEndian(destination[11..], 2);
        destination[HeaderLength] = AlertLevelFatal;
        destination[HeaderLength + 1] = AlertProtocolVersion;
        return HeaderLength + 2;
    }

    private static int ReadUInt24(ReadOnlySpan<byte> bytes) => (bytes[0] << 16) | (bytes[1] << 8) | bytes[2];
}
