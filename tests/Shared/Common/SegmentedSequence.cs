using System.Buffers;

namespace TurnServer.Tests.Shared;

/// <summary>Byte sequences cut into segments of chosen sizes, as a stream's bytes may sit in a pipe.</summary>
internal static class SegmentedSequence
{
    /// <summary><paramref name="bytes"/> as consecutive segments of <paramref name="sizes"/> bytes (which must add up to its length).</summary>
    public static ReadOnlySequence<byte> Create(byte[] bytes, IEnumerable<int> sizes)
    {
        Segment? first = null, last = null;
        int offset = 0;
        foreach (int size in sizes)
        {
            var memory = new ReadOnlyMemory<byte>(bytes, offset, size);
            offset += size;
            last = last is null ? (first = new Segment(memory, 0)) : last.Append(memory);
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
