using System.Buffers.Binary;
using System.Security.Cryptography;

namespace TurnServer.Hosting.Tests.Dtls;

/// <summary>
/// DTLS datagrams built byte by byte (RFC 6347 sections 4.1 and 4.2.2, RFC 5246 section 7.4.1.2), for tests that
/// speak to the server below any DTLS library. Also compiled into the integration tests.
/// </summary>
internal static class DtlsTestRecords
{
    public const ushort Dtls10 = 0xFEFF;
    public const ushort Dtls12 = 0xFEFD;

    /// <summary>
    /// A ClientHello in one record offering TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with secp256r1 and
    /// ecdsa_secp256r1_sha256: enough for the server to answer with its first flight.
    /// </summary>
    public static byte[] ClientHello(ushort version = Dtls12, ushort messageSeq = 0, ushort epoch = 0)
    {
        byte[] extensions =
        [
            0x00, 0x0A, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, // supported_groups: secp256r1
            0x00, 0x0B, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
            0x00, 0x0D, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, // signature_algorithms: ecdsa_secp256r1_sha256
            0xFF, 0x01, 0x00, 0x01, 0x00, // renegotiation_info, empty (RFC 5746): BouncyCastle refuses a hello without it
        ];
        var body = new List<byte>();
        body.AddRange(BigEndian(version));
        body.AddRange(RandomNumberGenerator.GetBytes(32));
        body.Add(0); // session_id
        body.Add(0); // cookie
        body.AddRange([0x00, 0x02, 0xC0, 0x2B]); // cipher_suites: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        body.AddRange([0x01, 0x00]); // compression_methods: null
        body.AddRange(BigEndian((ushort)extensions.Length));
        body.AddRange(extensions);

        var handshake = new List<byte> { 1 }; // client_hello
        handshake.AddRange(UInt24(body.Count));
        handshake.AddRange(BigEndian(messageSeq));
        handshake.AddRange(UInt24(0)); // fragment_offset
        handshake.AddRange(UInt24(body.Count)); // fragment_length
        handshake.AddRange(body);
        return Record(22, version, epoch, [.. handshake]);
    }

    /// <summary>A record with any content: type, version, epoch, sequence number 0, length, fragment.</summary>
    public static byte[] Record(byte contentType, ushort version, ushort epoch, byte[] fragment, ulong sequence = 0)
    {
        byte[] record = new byte[13 + fragment.Length];
        record[0] = contentType;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(1), version);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), epoch);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(5), (ushort)(sequence >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(7), (uint)sequence);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(11), (ushort)fragment.Length);
        fragment.CopyTo(record, 13);
        return record;
    }

    /// <summary>
    /// A copy of <paramref name="record"/> with another record sequence number: how a client retransmits a
    /// handshake message (the same message, a new record, since the receiver discards replayed sequence numbers).
    /// </summary>
    public static byte[] WithSequence(byte[] record, ulong sequence)
    {
        byte[] copy = (byte[])record.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(5), (ushort)(sequence >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(7), (uint)sequence);
        return copy;
    }

    private static byte[] BigEndian(ushort value) => [(byte)(value >> 8), (byte)value];

    private static byte[] UInt24(int value) => [(byte)(value >> 16), (byte)(value >> 8), (byte)value];
}
