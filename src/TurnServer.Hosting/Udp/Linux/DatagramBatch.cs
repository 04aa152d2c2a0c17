using System.Runtime.InteropServices;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// Native memory for one batch of datagrams as recvmmsg/sendmmsg want it: per slot a data buffer, an iovec, a
/// sockaddr (room for sockaddr_in6) and an mmsghdr pointing at them. The memory never moves and is owned by one
/// thread, so the kernel reads and writes it directly and nothing is pinned or allocated per packet.
/// Each slot keeps <see cref="Headroom"/> bytes before and <see cref="Tailroom"/> after the data for in-place framing.
/// </summary>
internal sealed unsafe class DatagramBatch : IDisposable
{
    /// <summary>Bytes reserved per slot for the address: sizeof(struct sockaddr_in6).</summary>
    public const int NameSize = 28;

    private readonly int _stride;
    private byte* _memory;

    /// <summary>
    /// Allocates <paramref name="capacity"/> slots of <paramref name="dataSize"/> data bytes each, plus
    /// <paramref name="headroom"/> and <paramref name="tailroom"/> bytes around the data, in 64-byte aligned native memory.
    /// </summary>
    public DatagramBatch(int capacity, int dataSize, int headroom = 0, int tailroom = 0)
    {
        Capacity = capacity;
        DataSize = dataSize;
        Headroom = headroom;
        Tailroom = tailroom;
        _stride = (headroom + dataSize + tailroom + 63) & ~63;
        nuint bytes = (nuint)(capacity * (sizeof(Libc.MMsgHdr) + sizeof(Libc.IoVec) + 32 + sizeof(int) + _stride));
        _memory = (byte*)NativeMemory.AlignedAlloc(bytes + 64, 64);
        Headers = (Libc.MMsgHdr*)_memory;
        Iov = (Libc.IoVec*)(Headers + capacity);
        Names = (byte*)(Iov + capacity);
        Fds = (int*)(Names + (capacity * 32));
        Data = (byte*)(((nuint)(Fds + capacity) + 63) & ~(nuint)63);

        // Only the descriptors are cleared: data pages stay untouched (and out of the resident set) until used.
        NativeMemory.Clear(_memory, (nuint)(Data - _memory));
        for (int i = 0; i < capacity; i++)
        {
            Headers[i].Header.Iov = Iov + i;
            Headers[i].Header.IovLength = 1;
            Headers[i].Header.Name = Names + (i * 32);
            Iov[i].Base = Data + (i * _stride) + headroom;
        }
    }

    /// <summary>Slots in the batch.</summary>
    public int Capacity { get; }

    /// <summary>Largest datagram a slot holds, in bytes.</summary>
    public int DataSize { get; }

    /// <summary>Free bytes before each slot's data.</summary>
    public int Headroom { get; }

    /// <summary>Free bytes after each slot's data.</summary>
    public int Tailroom { get; }

    /// <summary>Slots filled so far (send batches).</summary>
    public int Count { get; set; }

    /// <summary>One mmsghdr per slot, each pointing at its slot's iovec and name: the array recvmmsg/sendmmsg take.</summary>
    public Libc.MMsgHdr* Headers { get; }

    /// <summary>One iovec per slot, pointing at the slot's data (after the headroom).</summary>
    public Libc.IoVec* Iov { get; }

    /// <summary>The slots' sockaddr areas, 32 bytes apart (<see cref="NameSize"/> used).</summary>
    public byte* Names { get; }

    /// <summary>Per slot socket to send on (relay batches, whose datagrams leave from many sockets).</summary>
    public int* Fds { get; }

    private byte* Data { get; }

    /// <summary>Readies every slot for recvmmsg: whole data area, full-size name.</summary>
    public void PrepareReceive(int count)
    {
        for (int i = 0; i < count; i++)
        {
            Headers[i].Header.NameLength = NameSize;
            Headers[i].Header.Flags = 0;
            Iov[i].Length = (nuint)DataSize;
        }
    }

    /// <summary>Length of the datagram queued in slot <paramref name="i"/> (send batches).</summary>
    public int QueuedLength(int i) => (int)Iov[i].Length;

    /// <summary>The received datagram of slot <paramref name="i"/> (after recvmmsg).</summary>
    public Span<byte> Received(int i) => new(Iov[i].Base, (int)Headers[i].Length);

    /// <summary>Slot <paramref name="i"/> with its headroom and tailroom: the payload starts at <see cref="Headroom"/>.</summary>
    public Span<byte> WholeSlot(int i) => new(Data + (i * _stride), Headroom + DataSize + Tailroom);

    /// <summary>The sender's address of slot <paramref name="i"/> as the kernel wrote it.</summary>
    public ReadOnlySpan<byte> Name(int i) => new(Names + (i * 32), (int)Headers[i].Header.NameLength);

    /// <summary>True when the datagram of slot <paramref name="i"/> did not fit and was cut.</summary>
    public bool Truncated(int i) => (Headers[i].Header.Flags & Libc.MSG_TRUNC) != 0;

    /// <summary>
    /// Copies a datagram and its destination into the next free slot; false when the batch is full or the datagram
    /// or address does not fit (the caller flushes and retries, or drops).
    /// </summary>
    public bool TryAdd(int fd, ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> name)
    {
        int i = Count;
        if (i == Capacity || datagram.Length > DataSize || name.Length > NameSize)
        {
            return false;
        }

        datagram.CopyTo(new Span<byte>(Iov[i].Base, DataSize));
        Iov[i].Length = (nuint)datagram.Length;
        name.CopyTo(new Span<byte>(Names + (i * 32), NameSize));
        Headers[i].Header.NameLength = (uint)name.Length;
        Fds[i] = fd;
        Count = i + 1;
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }
}
