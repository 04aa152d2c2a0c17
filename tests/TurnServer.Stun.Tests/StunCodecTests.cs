using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TurnServer.Stun.Tests;

public class StunCodecTests
{
    [Theory]
    [InlineData(StunMethod.Binding, StunMessageClass.Request, 0x0001)]
    [InlineData(StunMethod.Binding, StunMessageClass.SuccessResponse, 0x0101)]
    [InlineData(StunMethod.Binding, StunMessageClass.ErrorResponse, 0x0111)]
    [InlineData(StunMethod.Allocate, StunMessageClass.Request, 0x0003)]
    [InlineData(StunMethod.Allocate, StunMessageClass.SuccessResponse, 0x0103)]
    [InlineData(StunMethod.Allocate, StunMessageClass.ErrorResponse, 0x0113)]
    [InlineData(StunMethod.Send, StunMessageClass.Indication, 0x0016)]
    [InlineData(StunMethod.Data, StunMessageClass.Indication, 0x0017)]
    [InlineData(StunMethod.ChannelBind, StunMessageClass.Request, 0x0009)]
    [InlineData(StunMethod.ConnectionAttempt, StunMessageClass.Indication, 0x001C)]
    public void Message_type_matches_the_registry(StunMethod method, StunMessageClass messageClass, int wire)
    {
        Assert.Equal(wire, StunMessageType.Encode(method, messageClass));
        StunMessageType.Decode((ushort)wire, out StunMethod m, out StunMessageClass c);
        Assert.Equal(method, m);
        Assert.Equal(messageClass, c);
    }

    [Fact]
    public void Message_type_round_trips_for_every_method_and_class()
    {
        for (int method = 0; method < 0x1000; method++)
        {
            for (int c = 0; c < 4; c++)
            {
                ushort type = StunMessageType.Encode((StunMethod)method, (StunMessageClass)c);
                Assert.Equal(0, type & 0xC000);
                StunMessageType.Decode(type, out StunMethod m, out StunMessageClass cls);
                Assert.Equal(method, (int)m);
                Assert.Equal(c, (int)cls);
            }
        }
    }

    [Theory]
    [InlineData("192.0.2.1", 32853)]
    [InlineData("0.0.0.0", 0)]
    [InlineData("255.255.255.255", 65535)]
    [InlineData("2001:db8::1", 3478)]
    [InlineData("::1", 1)]
    public void Xor_and_plain_addresses_round_trip(string ip, int port)
    {
        var address = new TransportAddress(IPAddress.Parse(ip), port);
        var buffer = new byte[128];
        var writer = new StunMessageWriter(buffer, StunMethod.Allocate, StunMessageClass.SuccessResponse, TransactionId.NewRandom());
        writer.WriteXorAddress(StunAttributeType.XorRelayedAddress, address);
        writer.WriteAddress(StunAttributeType.MappedAddress, address);

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(writer.Written, out StunMessageReader message));
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out TransportAddress xored));
        Assert.True(message.TryGetAddress(StunAttributeType.MappedAddress, out TransportAddress plain));
        Assert.Equal(address, xored);
        Assert.Equal(address, plain);

        // The XOR form must not carry the address in the clear (that is its whole point, RFC 8489 section 14.2).
        message.TryGetAttribute(StunAttributeType.XorRelayedAddress, out ReadOnlySpan<byte> raw);
        Span<byte> clear = stackalloc byte[16];
        int length = address.WriteAddressBytes(clear);
        Assert.False(raw[4..].SequenceEqual(clear[..length]));
    }

    [Fact]
    public void Xor_address_with_unknown_family_or_length_is_malformed()
    {
        Span<byte> header = stackalloc byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], StunConstants.MagicCookie);
        Assert.False(StunAddressCodec.TryDecode([0, 3, 0, 1, 1, 2, 3, 4], header, out _));
        Assert.False(StunAddressCodec.TryDecode([0, 1, 0, 1, 1, 2, 3], header, out _));
        Assert.False(StunAddressCodec.TryDecode([0, 2, 0, 1, 1, 2, 3, 4], header, out _));
        Assert.False(StunAddressCodec.TryDecode([], header, out _));
    }

    [Fact]
    public void Typed_attributes_round_trip()
    {
        var buffer = new byte[512];
        var tid = TransactionId.NewRandom();
        var writer = new StunMessageWriter(buffer, StunMethod.Allocate, StunMessageClass.ErrorResponse, tid);
        writer.WriteErrorCode(StunErrorCodes.AllocationQuotaReached);
        writer.WriteUInt32(StunAttributeType.Lifetime, 600);
        writer.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
        writer.WriteChannelNumber(0x4001);
        writer.WriteUInt64(StunAttributeType.ReservationToken, 0x0102030405060708);
        writer.WriteUnknownAttributes([0x0003, 0x0024]);
        writer.WriteText(StunAttributeType.Realm, "example.org");
        writer.AppendAttribute((ushort)StunAttributeType.EvenPort, 1)[0] = 0x80;

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(writer.Written, out StunMessageReader message));
        Assert.Equal(tid, message.TransactionId);
        Assert.True(message.TryGetErrorCode(out int code, out ReadOnlySpan<byte> reason));
        Assert.Equal(486, code);
        Assert.Equal("Allocation Quota Reached", Encoding.UTF8.GetString(reason));
        Assert.True(message.TryGetUInt32(StunAttributeType.Lifetime, out uint lifetime));
        Assert.Equal(600u, lifetime);
        Assert.True(message.TryGetLeadingByte(StunAttributeType.RequestedTransport, out byte protocol));
        Assert.Equal(17, protocol);
        Assert.True(message.TryGetChannelNumber(out ushort channel));
        Assert.Equal(0x4001, channel);
        Assert.True(message.TryGetReservationToken(out ulong token));
        Assert.Equal(0x0102030405060708UL, token);
        Assert.True(message.TryGetEvenPort(out bool reserve));
        Assert.True(reserve);
        Assert.True(message.TryGetAttribute(StunAttributeType.UnknownAttributes, out ReadOnlySpan<byte> unknown));
        Assert.Equal("00030024", Convert.ToHexString(unknown));
        Assert.False(message.HasAttribute(StunAttributeType.Nonce));
        Assert.Equal(0, writer.Length % 4);
    }

    [Fact]
    public void Padding_is_zero_and_length_field_tracks_attributes()
    {
        var buffer = new byte[64];
        buffer.AsSpan().Fill(0xEE);
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteText(StunAttributeType.Username, "abcde");
        Assert.Equal(32, writer.Length);
        Assert.Equal(12, BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(2)));
        Assert.Equal(new byte[] { 0, 0, 0 }, buffer[29..32]);
    }

    [Fact]
    public void Attributes_after_message_integrity_are_ignored_except_fingerprint()
    {
        var buffer = new byte[256];
        byte[] key = [1, 2, 3];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteText(StunAttributeType.Username, "alice");
        writer.WriteMessageIntegrity(key);
        writer.WriteText(StunAttributeType.Realm, "ignored");
        writer.WriteFingerprint();

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(writer.Written, out StunMessageReader message));
        Assert.True(message.HasAttribute(StunAttributeType.Username));
        Assert.False(message.HasAttribute(StunAttributeType.Realm));
        Assert.True(message.VerifyMessageIntegrity(key));
    }

    [Fact]
    public void Message_integrity_sha256_round_trips()
    {
        var buffer = new byte[256];
        byte[] key = MessageIntegrity.ComputeLongTermKeySha256("user", "realm", "pass");
        var writer = new StunMessageWriter(buffer, StunMethod.Allocate, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteText(StunAttributeType.Username, "user");
        writer.WriteMessageIntegritySha256(key);
        writer.WriteFingerprint();
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(writer.Written, out StunMessageReader message));
        Assert.True(message.HasMessageIntegritySha256);
        Assert.False(message.HasMessageIntegrity);
        Assert.True(message.VerifyMessageIntegritySha256(key));
        Assert.False(message.VerifyMessageIntegritySha256(new byte[32]));
    }

    [Fact]
    public void Long_term_key_is_md5_of_user_realm_password()
    {
        // turnadmin -k -u ninefingers -r north.gov -p youhavetoberealistic prints this key (coTURN's documentation).
        byte[] key = MessageIntegrity.ComputeLongTermKey("ninefingers", "north.gov", "youhavetoberealistic");
        Assert.Equal("bc807ee29df3c9ffa736523fb2c4e8ee", Convert.ToHexStringLower(key));
    }

    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
        byte[] long_ = Encoding.ASCII.GetBytes(new string('a', 1000));
        uint bytewise = 0xFFFFFFFF;
        foreach (byte b in long_)
        {
            bytewise ^= b;
            for (int k = 0; k < 8; k++)
            {
                bytewise = (bytewise & 1) != 0 ? 0xEDB88320 ^ (bytewise >> 1) : bytewise >> 1;
            }
        }

        Assert.Equal(~bytewise, Crc32.Compute(long_));
    }

    [Theory]
    [InlineData(new byte[] { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x43, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, StunParseResult.BadMagicCookie)]
    [InlineData(new byte[] { 0x00, 0x01, 0x00, 0x02, 0x21, 0x12, 0xA4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, StunParseResult.BadLength)]
    [InlineData(new byte[] { 0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xA4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, StunParseResult.BadLength)]
    [InlineData(new byte[] { 0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xA4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x06, 0x00, 0x08 }, StunParseResult.BadAttribute)]
    [InlineData(new byte[] { 0xC0, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, StunParseResult.NotStun)]
    [InlineData(new byte[] { 0x00, 0x01, 0x00 }, StunParseResult.TooShort)]
    public void Malformed_headers_are_rejected_with_a_reason(byte[] bytes, StunParseResult expected)
    {
        Assert.Equal(expected, StunMessageReader.TryParse(bytes, out _));
    }

    [Fact]
    public void Integrity_attribute_with_wrong_length_is_malformed()
    {
        var buffer = new byte[64];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        writer.AppendAttribute((ushort)StunAttributeType.MessageIntegrity, 16);
        Assert.Equal(StunParseResult.BadAttribute, StunMessageReader.TryParse(writer.Written, out _));
    }

    [Fact]
    public void Attribute_after_fingerprint_is_rejected()
    {
        var buffer = new byte[64];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteFingerprint();
        writer.WriteUInt32(StunAttributeType.Lifetime, 1);
        Assert.Equal(StunParseResult.AttributeAfterFingerprint, StunMessageReader.TryParse(writer.Written, out _));
    }

    [Fact]
    public void Wrong_fingerprint_is_rejected()
    {
        var buffer = new byte[64];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        writer.WriteFingerprint();
        int length = writer.Length;
        buffer[length - 1] ^= 1;
        Assert.Equal(StunParseResult.BadFingerprint, StunMessageReader.TryParse(buffer.AsSpan(0, length), out _));
    }

    [Fact]
    public void Writer_refuses_to_overflow_its_buffer()
    {
        var buffer = new byte[24];
        Assert.Throws<ArgumentException>(() =>
        {
            var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, default);
            writer.WriteUInt32(StunAttributeType.Lifetime, 1);
            writer.WriteUInt32(StunAttributeType.Lifetime, 1);
        });
    }

    [Theory]
    [InlineData(new byte[] { 0x40, 0x00, 0x00, 0x02, 0xAA, 0xBB }, true, 0x4000, 2)]
    [InlineData(new byte[] { 0x7F, 0xFF, 0x00, 0x00 }, true, 0x7FFF, 0)]
    [InlineData(new byte[] { 0x40, 0x01, 0x00, 0x01, 0xAA, 0x00, 0x00, 0x00 }, true, 0x4001, 1)]
    [InlineData(new byte[] { 0x40, 0x00, 0x00, 0x03, 0xAA, 0xBB }, false, 0x4000, 3)]
    [InlineData(new byte[] { 0x3F, 0xFF, 0x00, 0x00 }, false, 0x3FFF, 0)]
    [InlineData(new byte[] { 0x80, 0x00, 0x00, 0x00 }, false, 0x8000, 0)]
    [InlineData(new byte[] { 0x40, 0x00, 0x00 }, false, 0, 0)]
    public void ChannelData_is_parsed_strictly(byte[] datagram, bool valid, int channel, int length)
    {
        Assert.Equal(valid, ChannelData.TryParse(datagram, out ushort number, out int payloadLength));
        Assert.Equal(channel, number);
        Assert.Equal(length, payloadLength);
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(1, 8)]
    [InlineData(4, 8)]
    [InlineData(5, 12)]
    public void ChannelData_stream_frames_are_padded_to_four(int payload, int frame)
    {
        Assert.Equal(frame, ChannelData.GetStreamFrameLength(payload));
    }

    [Theory]
    [InlineData(0x00, PacketKind.Stun)]
    [InlineData(0x01, PacketKind.Stun)]
    [InlineData(0x03, PacketKind.Stun)]
    [InlineData(0x04, PacketKind.Unknown)]
    [InlineData(0x16, PacketKind.Dtls)]
    [InlineData(0x40, PacketKind.ChannelData)]
    [InlineData(0x7F, PacketKind.ChannelData)]
    [InlineData(0x80, PacketKind.Unknown)]
    [InlineData(0xFF, PacketKind.Unknown)]
    public void First_byte_classifies_the_packet(byte first, PacketKind kind)
    {
        Assert.Equal(kind, PacketClassifier.Classify([first, 0, 0, 0]));
    }

    [Fact]
    public void TransportAddress_normalises_ipv4_mapped_and_round_trips_through_SocketAddress()
    {
        var mapped = new TransportAddress(IPAddress.Parse("::ffff:10.1.2.3"), 5000);
        var plain = new TransportAddress(IPAddress.Parse("10.1.2.3"), 5000);
        Assert.Equal(plain, mapped);
        Assert.True(mapped.IsIPv4);

        foreach (TransportAddress address in new[] { plain, new TransportAddress(IPAddress.Parse("2001:db8::7"), 65000) })
        {
            SocketAddress socketAddress = address.ToSocketAddress();
            var decoded = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(socketAddress);
            Assert.Equal(address.ToEndPoint(), decoded);
            Assert.True(TransportAddress.TryRead(socketAddress, out TransportAddress back));
            Assert.Equal(address, back);
        }

        // An IPv4 destination written into an IPv6 socket address comes out as the mapped form.
        SocketAddress six = plain.ToSocketAddress(AddressFamily.InterNetworkV6);
        var endPoint = (IPEndPoint)new IPEndPoint(IPAddress.IPv6Any, 0).Create(six);
        Assert.Equal(IPAddress.Parse("::ffff:10.1.2.3"), endPoint.Address);
        Assert.Equal(5000, endPoint.Port);
    }

    [Fact]
    public void TransportAddress_compares_ip_only_for_permissions()
    {
        var a = new TransportAddress(IPAddress.Parse("198.51.100.7"), 1000);
        Assert.True(a.HasSameIPAddress(a.WithPort(2000)));
        Assert.NotEqual(a, a.WithPort(2000));
        Assert.False(a.HasSameIPAddress(new TransportAddress(IPAddress.Parse("198.51.100.8"), 1000)));
        Assert.Equal("198.51.100.7:1000", a.ToString());
        Assert.Equal("[2001:db8::1]:9", new TransportAddress(IPAddress.Parse("2001:db8::1"), 9).ToString());
    }
}

public class SecurityAttributeTests
{
    [Fact]
    public void Password_algorithms_icmp_and_userhash_round_trip()
    {
        var buffer = new byte[256];
        var writer = new StunMessageWriter(buffer, StunMethod.Data, StunMessageClass.Indication, TransactionId.NewRandom());
        writer.WritePasswordAlgorithms([0x0002, 0x0001]);
        writer.WritePasswordAlgorithm(0x0002);
        writer.WriteIcmp(type: 3, code: 13, errorData: 0xA0B0C0D0);
        writer.WriteAttribute(StunAttributeType.UserHash, MessageIntegrity.ComputeUserHash("alice", "example.org"));

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(writer.Written, out StunMessageReader message));
        Span<ushort> algorithms = stackalloc ushort[4];
        Assert.Equal(2, message.GetPasswordAlgorithms(algorithms));
        Assert.Equal(0x0002, algorithms[0]);
        Assert.Equal(0x0001, algorithms[1]);
        Assert.True(message.TryGetPasswordAlgorithm(out ushort chosen));
        Assert.Equal(0x0002, chosen);
        Assert.True(message.TryGetIcmp(out byte type, out byte code, out uint data));
        Assert.Equal((3, 13, 0xA0B0C0D0u), (type, code, data));
        Assert.True(message.TryGetAttribute(StunAttributeType.UserHash, out ReadOnlySpan<byte> hash));
        Assert.Equal(System.Security.Cryptography.SHA256.HashData("alice:example.org"u8), hash.ToArray());
    }

    [Fact]
    public void Malformed_password_algorithms_are_rejected()
    {
        var buffer = new byte[64];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(writer.AppendAttribute((ushort)StunAttributeType.PasswordAlgorithms, 4), 0x0001_0010);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(writer.Written, out StunMessageReader message));
        Assert.Equal(-1, message.GetPasswordAlgorithms(stackalloc ushort[2]));
        Assert.False(message.TryGetIcmp(out _, out _, out _));
    }
}
