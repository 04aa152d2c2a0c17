using System.Net;
using System.Text;

namespace TurnServer.Stun.Tests;

/// <summary>
/// RFC 5769 test vectors and RFC 8489's SHA-256 one: each is parsed and checked attribute by attribute, then rebuilt with
/// <see cref="StunMessageWriter"/> and compared byte for byte, MESSAGE-INTEGRITY and FINGERPRINT included.
/// </summary>
public class Rfc5769VectorTests
{
    private const string ShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";

    [Fact]
    public void Request_parses_and_verifies()
    {
        byte[] bytes = TestVectors.Load("rfc5769-request.hex");
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(bytes, out StunMessageReader message));

        Assert.Equal(StunMethod.Binding, message.Method);
        Assert.Equal(StunMessageClass.Request, message.Class);
        Assert.Equal("b7e7a701bc34d686fa87dfae", message.TransactionId.ToString());
        Assert.True(message.TryGetAttribute(StunAttributeType.Software, out ReadOnlySpan<byte> software));
        Assert.Equal("STUN test client", Encoding.UTF8.GetString(software));
        Assert.True(message.TryGetAttribute(StunAttributeType.Username, out ReadOnlySpan<byte> username));
        Assert.Equal("evtj:h6vY", Encoding.UTF8.GetString(username));
        Assert.True(message.HasFingerprint);
        Assert.True(message.VerifyMessageIntegrity(Encoding.UTF8.GetBytes(ShortTermPassword)));
        Assert.False(message.VerifyMessageIntegrity(Encoding.UTF8.GetBytes("wrong")));

        // PRIORITY (0x0024) is comprehension-required and not a TURN server's business: it is reported unknown.
        Span<ushort> unknown = stackalloc ushort[4];
        Assert.Equal(1, message.GetUnknownComprehensionRequired(unknown));
        Assert.Equal(0x0024, unknown[0]);
    }

    [Fact]
    public void Request_is_rebuilt_byte_for_byte()
    {
        byte[] expected = TestVectors.Load("rfc5769-request.hex");
        var buffer = new byte[256];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.Read(expected.AsSpan(8)));
        writer.WriteText(StunAttributeType.Software, "STUN test client");
        Convert.FromHexString("6e0001ff").CopyTo(writer.AppendAttribute(0x0024, 4));
        Convert.FromHexString("932ff9b151263b36").CopyTo(writer.AppendAttribute((ushort)StunAttributeType.IceControlled, 8));
        writer.WriteText(StunAttributeType.Username, "evtj:h6vY");
        SetPaddingToSpaces(buffer, writer.Length, 3); // padding may hold any value; the RFC uses spaces
        writer.WriteMessageIntegrity(Encoding.UTF8.GetBytes(ShortTermPassword));
        writer.WriteFingerprint();

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(writer.Written));
    }

    [Theory]
    [InlineData("rfc5769-response-ipv4.hex", "192.0.2.1")]
    [InlineData("rfc5769-response-ipv6.hex", "2001:db8:1234:5678:11:2233:4455:6677")]
    public void Response_parses_and_is_rebuilt_byte_for_byte(string file, string mappedAddress)
    {
        byte[] expected = TestVectors.Load(file);
        byte[] key = Encoding.UTF8.GetBytes(ShortTermPassword);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(expected, out StunMessageReader message));
        Assert.Equal(StunMessageClass.SuccessResponse, message.Class);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out TransportAddress mapped));
        Assert.Equal(new TransportAddress(IPAddress.Parse(mappedAddress), 32853), mapped);
        Assert.True(message.VerifyMessageIntegrity(key));

        var buffer = new byte[256];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.SuccessResponse, message.TransactionId);
        writer.WriteText(StunAttributeType.Software, "test vector");
        SetPaddingToSpaces(buffer, writer.Length, 1);
        writer.WriteXorAddress(StunAttributeType.XorMappedAddress, mapped);
        writer.WriteMessageIntegrity(key);
        writer.WriteFingerprint();

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(writer.Written));
    }

    [Fact]
    public void Long_term_request_verifies_with_the_md5_key_and_is_rebuilt_byte_for_byte()
    {
        byte[] expected = TestVectors.Load("rfc5769-request-long-term.hex");
        const string username = "\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9";
        byte[] key = MessageIntegrity.ComputeLongTermKey(username, "example.org", "TheMatrIX");

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(expected, out StunMessageReader message));
        Assert.True(message.TryGetAttribute(StunAttributeType.Username, out ReadOnlySpan<byte> user));
        Assert.Equal(username, Encoding.UTF8.GetString(user));
        Assert.True(message.VerifyMessageIntegrity(key));
        Assert.False(message.HasFingerprint);

        var buffer = new byte[256];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, message.TransactionId);
        writer.WriteText(StunAttributeType.Username, username);
        writer.WriteText(StunAttributeType.Nonce, "f//499k954d6OL34oL9FSTvy64sA");
        writer.WriteText(StunAttributeType.Realm, "example.org");
        writer.WriteMessageIntegrity(key);

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(writer.Written));
    }

    [Fact]
    public void Rfc8489_sha256_request_verifies_with_the_sha256_key_and_is_rebuilt_byte_for_byte()
    {
        byte[] expected = TestVectors.Load("rfc8489-request-sha256-userhash.hex");
        const string username = "\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9";
        byte[] key = MessageIntegrity.ComputeLongTermKeySha256(username, "example.org", "TheMatrIX");
        byte[] userHash = MessageIntegrity.ComputeUserHash(username, "example.org");

        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(expected, out StunMessageReader message));
        Assert.True(message.TryGetAttribute(StunAttributeType.UserHash, out ReadOnlySpan<byte> hash));
        Assert.Equal(Convert.ToHexString(userHash), Convert.ToHexString(hash));
        Assert.True(message.TryGetPasswordAlgorithm(out ushort algorithm));
        Assert.Equal(0x0002, algorithm);
        Assert.True(message.HasMessageIntegritySha256);
        Assert.True(message.VerifyMessageIntegritySha256(key));
        Assert.False(message.VerifyMessageIntegritySha256(MessageIntegrity.ComputeLongTermKeySha256(username, "example.org", "TheMatrix")));

        var buffer = new byte[256];
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, message.TransactionId);
        writer.WriteAttribute(StunAttributeType.UserHash, userHash);
        writer.WriteText(StunAttributeType.Nonce, "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA");
        writer.WriteText(StunAttributeType.Realm, "example.org");
        writer.WritePasswordAlgorithm(0x0002);
        writer.WriteMessageIntegritySha256(key);

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(writer.Written));
    }

    [Theory]
    [InlineData("rfc5769-request.hex")]
    [InlineData("rfc5769-response-ipv4.hex")]
    [InlineData("rfc5769-response-ipv6.hex")]
    [InlineData("rfc5769-request-long-term.hex")]
    [InlineData("rfc8489-request-sha256-userhash.hex")]
    public void Every_proper_prefix_fails_cleanly(string file) => TestVectors.AssertEveryProperPrefixFails(file);

    [Theory]
    [InlineData("rfc5769-request.hex")]
    [InlineData("rfc5769-response-ipv4.hex")]
    public void A_flipped_bit_is_caught_by_fingerprint_or_integrity(string file)
    {
        byte[] original = TestVectors.Load(file);
        byte[] key = Encoding.UTF8.GetBytes(ShortTermPassword);
        // Bits of the FINGERPRINT type field are left out: flipping one turns FINGERPRINT into an unknown
        // comprehension-optional attribute after MESSAGE-INTEGRITY, which RFC 8489 section 14.5 says to ignore.
        int fingerprintTypeBits = (original.Length - 8) * 8;
        for (int i = 0; i < original.Length * 8; i++)
        {
            if (i >= fingerprintTypeBits && i < fingerprintTypeBits + 16)
            {
                continue;
            }

            byte[] bytes = (byte[])original.Clone();
            bytes[i / 8] ^= (byte)(1 << (i % 8));
            StunParseResult result = StunMessageReader.TryParse(bytes, out StunMessageReader message);
            bool accepted = result == StunParseResult.Success && message.VerifyMessageIntegrity(key);
            Assert.False(accepted, $"bit {i} flipped was accepted");
        }
    }

    private static void SetPaddingToSpaces(byte[] buffer, int end, int count) => buffer.AsSpan(end - count, count).Fill(0x20);
}
