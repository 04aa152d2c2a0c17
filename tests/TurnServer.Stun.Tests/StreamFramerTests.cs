using System.Buffers;
using TurnServer.Tests.Shared;

namespace TurnServer.Stun.Tests;

/// <summary>Stream framing (RFC 8656 section 12.5) under every kind of segmentation a TCP stack can produce.</summary>
public class StreamFramerTests
{
    [Fact]
    public void Many_messages_in_one_segment_come_out_whole_and_in_order()
    {
        List<byte[]> frames = MakeFrames(new Random(1), 20);
        byte[] stream = [.. frames.SelectMany(f => f)];
        Assert.Equal(frames, ReadAll(Segment(stream, [stream.Length])));
    }

    [Fact]
    public void A_message_split_byte_by_byte_comes_out_whole()
    {
        List<byte[]> frames = MakeFrames(new Random(2), 5);
        byte[] stream = [.. frames.SelectMany(f => f)];
        Assert.Equal(frames, ReadAll(Segment(stream, Enumerable.Repeat(1, stream.Length).ToArray())));
    }

    [Fact]
    public void Random_segmentation_never_changes_what_comes_out()
    {
        var random = new Random(3);
        for (int round = 0; round < 200; round++)
        {
            List<byte[]> frames = MakeFrames(random, random.Next(1, 30));
            byte[] stream = [.. frames.SelectMany(f => f)];
            var cuts = new List<int>();
            int remaining = stream.Length;
            while (remaining > 0)
            {
                int size = Math.Min(remaining, random.Next(1, 300));
                cuts.Add(size);
                remaining -= size;
            }

            Assert.Equal(frames, ReadAll(Segment(stream, [.. cuts])));
        }
    }

    [Fact]
    public void Incremental_arrival_waits_for_the_rest_of_a_frame()
    {
        byte[] frame = MakeChannelData(0x4001, 5);
        var partial = new ReadOnlySequence<byte>(frame, 0, 7);
        Assert.Equal(FrameStatus.NeedMoreData, StreamFramer.TryReadFrame(ref partial, out _, out _));
        Assert.Equal(7, partial.Length); // nothing consumed
        var whole = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameStatus.Frame, StreamFramer.TryReadFrame(ref whole, out ReadOnlySequence<byte> cut, out PacketKind kind));
        Assert.Equal(PacketKind.ChannelData, kind);
        Assert.Equal(12, cut.Length); // 4 + 5 padded to 8
    }

    [Fact]
    public void Garbage_first_byte_is_invalid()
    {
        var buffer = new ReadOnlySequence<byte>([0x80, 0, 0, 0, 0]);
        Assert.Equal(FrameStatus.Invalid, StreamFramer.TryReadFrame(ref buffer, out _, out _));
    }

    private static List<byte[]> MakeFrames(Random random, int count)
    {
        var frames = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            if (random.Next(2) == 0)
            {
                var buffer = new byte[512];
                var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, TransactionId.NewRandom());
                var data = new byte[random.Next(0, 200)];
                random.NextBytes(data);
                writer.WriteAttribute(StunAttributeType.Data, data);
                frames.Add(writer.Written.ToArray());
            }
            else
            {
                frames.Add(MakeChannelData((ushort)random.Next(0x4000, 0x8000), random.Next(0, 1300), random));
            }
        }

        return frames;
    }

    private static byte[] MakeChannelData(ushort channel, int payload, Random? random = null)
    {
        var frame = new byte[ChannelData.GetStreamFrameLength(payload)];
        ChannelData.WriteHeader(frame, channel, payload);
        random?.NextBytes(frame.AsSpan(4, payload));
        return frame;
    }

    private static List<byte[]> ReadAll(ReadOnlySequence<byte> stream)
    {
        var frames = new List<byte[]>();
        while (StreamFramer.TryReadFrame(ref stream, out ReadOnlySequence<byte> frame, out _) == FrameStatus.Frame)
        {
            frames.Add(frame.ToArray());
        }

        Assert.Equal(0, stream.Length);
        return frames;
    }

    private static ReadOnlySequence<byte> Segment(byte[] stream, int[] sizes) => SegmentedSequence.Create(stream, sizes);
}
