using System.Net;

namespace TurnServer.Stun.Tests;

/// <summary>Parsing and reading attributes of a request allocates nothing once warm.</summary>
public class AllocationFreeTests
{
    [Fact]
    public void Parsing_and_reading_a_request_allocates_nothing()
    {
        byte[] bytes = TestVectors.Load("rfc5769-request-long-term.hex");
        byte[] key = MessageIntegrity.ComputeLongTermKey("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", "example.org", "TheMatrIX");
        Assert.True(Read(bytes, key)); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        bool ok = Read(bytes, key);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(ok);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Writing_a_response_allocates_nothing()
    {
        var buffer = new byte[256];
        var mapped = new TransportAddress(IPAddress.Parse("192.0.2.1"), 32853);
        byte[] key = new byte[16];
        var tid = TransactionId.NewRandom();
        Write(buffer, mapped, key, tid);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int length = Write(buffer, mapped, key, tid);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(buffer.AsSpan(0, length), out _));
    }

    private static bool Read(byte[] bytes, byte[] key)
    {
        if (StunMessageReader.TryParse(bytes, out StunMessageReader message) != StunParseResult.Success)
        {
            return false;
        }

        return message.TryGetAttribute(StunAttributeType.Username, out _)
            && message.TryGetAttribute(StunAttributeType.Nonce, out _)
            && message.TryGetAttribute(StunAttributeType.Realm, out _)
            && message.VerifyMessageIntegrity(key);
    }

    private static int Write(byte[] buffer, TransportAddress mapped, byte[] key, TransactionId tid)
    {
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.SuccessResponse, tid);
        writer.WriteXorAddress(StunAttributeType.XorMappedAddress, mapped);
        writer.WriteAttribute(StunAttributeType.Software, "TurnServer"u8);
        writer.WriteMessageIntegrity(key);
        writer.WriteFingerprint();
        return writer.Length;
    }
}
