using FsCheck;
using FsCheck.Fluent;

namespace TurnServer.Stun.Tests;

/// <summary>Untrusted bytes never throw: random buffers and mutated valid messages go through every reader path.</summary>
public class FuzzTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(2000);

    [Fact]
    public void Random_bytes_never_throw() =>
        Check.One(Runs, Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), Exercise));

    [Fact]
    public void Mutated_messages_never_throw()
    {
        byte[] seed = TestVectors.Load("rfc5769-request.hex");
        Gen<byte[]> mutated =
            from index in Gen.Choose(0, seed.Length - 1)
            from value in ArbMap.Default.GeneratorFor<byte>()
            from cut in Gen.Choose(0, seed.Length)
            select Mutate(seed, index, value, cut);
        Check.One(Runs, Prop.ForAll(mutated.ToArbitrary(), Exercise));
    }

    [Fact]
    public void Stun_header_with_random_attributes_never_throws() =>
        Check.One(Runs, Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), WithStunHeader));

    private static bool WithStunHeader(byte[] attributes)
    {
        int length = Math.Min(attributes.Length & ~3, 0xFFFC);
        var bytes = new byte[20 + length];
        bytes[1] = 0x01;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), StunConstants.MagicCookie);
        attributes.AsSpan(0, length).CopyTo(bytes.AsSpan(20));
        return Exercise(bytes);
    }

    private static byte[] Mutate(byte[] seed, int index, byte value, int cut)
    {
        byte[] copy = (byte[])seed.Clone();
        copy[index] = value;
        return copy[..cut];
    }

    private static bool Exercise(byte[] bytes)
    {
        PacketClassifier.Classify(bytes);
        ChannelData.TryParse(bytes, out _, out _);
        if (StunMessageReader.TryParse(bytes, out StunMessageReader message) != StunParseResult.Success)
        {
            return true;
        }

        foreach (StunAttributeType type in Enum.GetValues<StunAttributeType>())
        {
            message.TryGetAttribute(type, out _);
            message.TryGetXorAddress(type, out _);
            message.TryGetAddress(type, out _);
            message.TryGetUInt32(type, out _);
            message.TryGetLeadingByte(type, out _);
        }

        message.TryGetChannelNumber(out _);
        message.TryGetEvenPort(out _);
        message.TryGetReservationToken(out _);
        message.TryGetErrorCode(out _, out _);
        message.TryGetPasswordAlgorithm(out _);
        message.GetPasswordAlgorithms(stackalloc ushort[4]);
        message.TryGetIcmp(out _, out _, out _);
        message.GetUnknownComprehensionRequired(stackalloc ushort[8]);
        message.VerifyMessageIntegrity([1, 2, 3]);
        message.VerifyMessageIntegritySha256([1, 2, 3]);
        return true;
    }
}
