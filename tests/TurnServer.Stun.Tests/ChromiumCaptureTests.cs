using System.Net;

namespace TurnServer.Stun.Tests;

/// <summary>
/// What a real browser writes, byte for byte: messages Chromium 156 sent to this server over UDP during the browser
/// test, captured with tcpdump (TestData/chromium-*.hex). The codec must read every one of them, find nothing it
/// does not know, and verify each signature with alice's long-term key.
/// </summary>
public sealed class ChromiumCaptureTests
{
    private static readonly byte[] Key = MessageIntegrity.ComputeLongTermKey("alice", "example.org", "secret");

    /// <summary>The relayed address of the other RTCPeerConnection in the capture: 127.0.0.1:20277.</summary>
    private static readonly TransportAddress OtherRelay = TransportAddress.FromEndPoint(IPEndPoint.Parse("127.0.0.1:20277"));

    [Theory]
    [InlineData("chromium-binding-request.hex", StunMethod.Binding, StunMessageClass.Request, false)]
    [InlineData("chromium-allocate-request.hex", StunMethod.Allocate, StunMessageClass.Request, false)]
    [InlineData("chromium-allocate-request-authenticated.hex", StunMethod.Allocate, StunMessageClass.Request, true)]
    [InlineData("chromium-createpermission-request.hex", StunMethod.CreatePermission, StunMessageClass.Request, true)]
    [InlineData("chromium-send-indication.hex", StunMethod.Send, StunMessageClass.Indication, false)]
    [InlineData("chromium-channelbind-request.hex", StunMethod.ChannelBind, StunMessageClass.Request, true)]
    [InlineData("chromium-refresh-request-lifetime-0.hex", StunMethod.Refresh, StunMessageClass.Request, true)]
    public void Each_message_parses_with_nothing_unknown_and_signed_ones_verify(string file, StunMethod method, StunMessageClass messageClass, bool signed)
    {
        byte[] bytes = TestVectors.Load(file);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(bytes, out StunMessageReader message));
        Assert.Equal((method, messageClass), (message.Method, message.Class));
        Assert.Equal(0, message.GetUnknownComprehensionRequired(new ushort[8]));
        Assert.False(message.HasFingerprint); // Chromium sends none to a TURN server
        Assert.Equal(signed, message.HasMessageIntegrity);
        if (signed)
        {
            Assert.True(message.TryGetAttribute(StunAttributeType.Username, out ReadOnlySpan<byte> username) && username.SequenceEqual("alice"u8));
            Assert.True(message.TryGetAttribute(StunAttributeType.Realm, out ReadOnlySpan<byte> realm) && realm.SequenceEqual("example.org"u8));
            Assert.True(message.HasAttribute(StunAttributeType.Nonce));
            Assert.True(message.VerifyMessageIntegrity(Key));
            Assert.False(message.VerifyMessageIntegrity(MessageIntegrity.ComputeLongTermKey("alice", "example.org", "wrong")));
        }
    }

    /// <summary>Chromium asks for UDP and nothing else: no LIFETIME, EVEN-PORT, DONT-FRAGMENT or address family.</summary>
    [Fact]
    public void Allocate_asks_only_for_a_udp_relay()
    {
        foreach (string file in new[] { "chromium-allocate-request.hex", "chromium-allocate-request-authenticated.hex" })
        {
            StunMessageReader.TryParse(TestVectors.Load(file), out StunMessageReader message);
            Assert.True(message.TryGetLeadingByte(StunAttributeType.RequestedTransport, out byte transport));
            Assert.Equal(17, transport);
            Assert.False(message.HasAttribute(StunAttributeType.Lifetime));
            Assert.False(message.HasAttribute(StunAttributeType.EvenPort));
            Assert.False(message.HasAttribute(StunAttributeType.DontFragment));
            Assert.False(message.HasAttribute(StunAttributeType.RequestedAddressFamily));
        }
    }

    [Fact]
    public void Permission_and_channel_name_the_other_connections_relayed_address()
    {
        StunMessageReader.TryParse(TestVectors.Load("chromium-createpermission-request.hex"), out StunMessageReader permission);
        Assert.True(permission.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress permitted));
        Assert.Equal(OtherRelay, permitted);

        StunMessageReader.TryParse(TestVectors.Load("chromium-channelbind-request.hex"), out StunMessageReader bind);
        Assert.True(bind.TryGetChannelNumber(out ushort channel));
        Assert.Equal(0x4000, channel);
        Assert.True(bind.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress bound));
        Assert.Equal(OtherRelay, bound);
    }

    /// <summary>Before the channel is bound, ICE checks travel in Send indications: DATA holds a STUN Binding request for the peer.</summary>
    [Fact]
    public void A_send_indication_carries_an_ice_check_to_the_peer()
    {
        StunMessageReader.TryParse(TestVectors.Load("chromium-send-indication.hex"), out StunMessageReader send);
        Assert.True(send.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress peer));
        Assert.Equal(OtherRelay, peer);
        Assert.True(send.TryGetAttribute(StunAttributeType.Data, out ReadOnlySpan<byte> data));
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(data, out StunMessageReader check));
        Assert.Equal((StunMethod.Binding, StunMessageClass.Request), (check.Method, check.Class));
    }

    [Fact]
    public void Refresh_on_close_asks_for_lifetime_zero()
    {
        StunMessageReader.TryParse(TestVectors.Load("chromium-refresh-request-lifetime-0.hex"), out StunMessageReader refresh);
        Assert.True(refresh.TryGetUInt32(StunAttributeType.Lifetime, out uint lifetime));
        Assert.Equal(0u, lifetime);
    }

    /// <summary>Over UDP Chromium does not pad ChannelData; the payload is a DTLS record of the data channel.</summary>
    [Fact]
    public void Channel_data_is_unpadded_and_carries_dtls()
    {
        byte[] frame = TestVectors.Load("chromium-channeldata.hex");
        Assert.True(ChannelData.TryParse(frame, out ushort channel, out int length));
        Assert.Equal((0x4000, frame.Length - ChannelData.HeaderLength), (channel, length));
        Assert.Equal(PacketKind.ChannelData, PacketClassifier.Classify(frame));
        Assert.Equal(PacketKind.Dtls, PacketClassifier.Classify(frame.AsSpan(ChannelData.HeaderLength)));
        for (int cut = 0; cut < frame.Length; cut++)
        {
            Assert.False(ChannelData.TryParse(frame.AsSpan(0, cut), out _, out _));
        }
    }

    [Theory]
    [InlineData("chromium-binding-request.hex")]
    [InlineData("chromium-allocate-request.hex")]
    [InlineData("chromium-allocate-request-authenticated.hex")]
    [InlineData("chromium-createpermission-request.hex")]
    [InlineData("chromium-send-indication.hex")]
    [InlineData("chromium-channelbind-request.hex")]
    [InlineData("chromium-refresh-request-lifetime-0.hex")]
    public void Every_proper_prefix_fails_cleanly(string file) => TestVectors.AssertEveryProperPrefixFails(file);
}
