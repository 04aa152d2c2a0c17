using System.Runtime.InteropServices;

namespace TurnServer.Hosting.Udp.Linux;

/// <summary>
/// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18+): consecutive queued datagrams to the same address,
/// of one size (the last may be shorter), leave as one send whose payload the kernel cuts into those datagrams after
/// routing and building headers once. On the wire nothing changes: the receiver gets the same datagrams. Video is
/// sent as runs of equal-size packets, which is where this saves the most kernel time per packet.
/// </summary>
internal sealed unsafe class SegmentationOffload : IDisposable
{
    /// <summary>Most datagrams merged into one send (the kernel's limit is 64 on older releases).</summary>
    public const int MaxSegments = 64;

    /// <summary>Most payload bytes merged into one send; a UDP datagram carries at most 65,507.</summary>
    public const int MaxBytes = 65000;

    /// <summary>
    /// Largest datagram merged: UDP's payload in a 1,500-byte IPv6 packet. The kernel refuses (EINVAL before Linux
    /// 6.14) a segment larger than the route's MTU allows, which loopback's 64 KiB MTU never shows; such datagrams go
    /// alone, to be fragmented or refused as they would be without offload.
    /// </summary>
    public const int MaxSegmentBytes = 1452;

    /// <summary>
    /// Segments this small fit the smallest MTU IPv6 allows (1,280 bytes, less 40 for IPv6 and 8 for UDP): when the
    /// kernel refuses a run of them to an IPv6 destination, offload itself is refused, not the size.
    /// </summary>
    public const int MinimumMtuSegmentBytes = 1232;

    /// <summary>
    /// The same for IPv4: the smallest path MTU Linux learns by default (net.ipv4.route.min_pmtu, 552 bytes), less 20
    /// for IPv4 and 8 for UDP. A peer behind a small link, or one that sends ICMP "fragmentation needed" for itself,
    /// lowers its path MTU that far, and kernels before 6.14 refuse larger segments with EINVAL.
    /// </summary>
    public const int MinimumIPv4MtuSegmentBytes = 524;

    private const int SolUdp = 17;
    private const int UdpSegment = 103;
    private const int ControlSpace = 24; // CMSG_SPACE(sizeof(uint16_t)) on 64-bit Linux
    private const int ControlLength = 18; // CMSG_LEN(sizeof(uint16_t))

    private readonly int _capacity;
    private byte* _memory;

    /// <summary>Allocates native room to merge up to <paramref name="capacity"/> messages (iovecs and one UDP_SEGMENT cmsg each).</summary>
    public SegmentationOffload(int capacity)
    {
        _capacity = capacity;
        nuint bytes = (nuint)(capacity * (sizeof(Libc.MMsgHdr) + sizeof(Libc.IoVec) + ControlSpace + (2 * sizeof(int))));
        _memory = (byte*)NativeMemory.AllocZeroed(bytes);
        Headers = (Libc.MMsgHdr*)_memory;
        Iov = (Libc.IoVec*)(Headers + capacity);
        Control = (byte*)(Iov + capacity);
        First = (int*)(Control + (capacity * ControlSpace));
        Count = First + capacity;
    }

    /// <summary>False once the kernel refused a segmented send; from then on every datagram goes alone.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The merged messages, ready for sendmmsg.</summary>
    public Libc.MMsgHdr* Headers { get; }

    /// <summary>For merged message k, the index of its first original message.</summary>
    public int* First { get; }

    /// <summary>For merged message k, how many original messages it carries.</summary>
    public int* Count { get; }

    private Libc.IoVec* Iov { get; }

    private byte* Control { get; }

    /// <summary>
    /// Whether the kernel's <paramref name="errno"/> for a run of <paramref name="segmentBytes"/>-byte segments sent to
    /// <paramref name="name"/> (a sockaddr) may be about their size on that one path (EMSGSIZE; EINVAL for segments
    /// over the smallest MTU of the destination's family), rather than a refusal of offload itself.
    /// </summary>
    public static bool IsSizeError(int errno, nuint segmentBytes, ReadOnlySpan<byte> name) =>
        errno == Libc.EMSGSIZE
        || (errno == Libc.EINVAL && segmentBytes > (nuint)(IsIPv4(name) ? MinimumIPv4MtuSegmentBytes : MinimumMtuSegmentBytes));

    /// <summary>A sockaddr_in, or a sockaddr_in6 holding an IPv4-mapped address (::ffff:a.b.c.d).</summary>
    private static bool IsIPv4(ReadOnlySpan<byte> name) =>
        name.Length == 16 || (name.Length >= 24 && name[8..18].IndexOfAnyExcept((byte)0) < 0 && name[18] == 0xFF && name[19] == 0xFF);

    /// <summary>Merges runs of <paramref name="messages"/> (at most the capacity); returns how many messages result.</summary>
    public int Coalesce(Libc.MMsgHdr* messages, int count)
    {
        int merged = 0;
        int iovUsed = 0;
        int i = 0;
        while (i < count)
        {
            Libc.MsgHdr* first = &messages[i].Header;
            nuint segment = first->Iov->Length;
            nuint total = segment;
            int run = 1;
            while (Enabled && segment <= MaxSegmentBytes && i + run < count && run < MaxSegments)
            {
                Libc.MsgHdr* next = &messages[i + run].Header;
                nuint length = next->Iov->Length;
                if (length > segment || length == 0 || total + length > MaxBytes || !SameAddress(first, next))
                {
                    break;
                }

                total += length;
                run++;
                if (length < segment)
                {
                    break; // only the last segment may be shorter
                }
            }

            Libc.MMsgHdr* target = Headers + merged;
            *target = messages[i];
            if (run > 1)
            {
                for (int k = 0; k < run; k++)
                {
                    Iov[iovUsed + k] = *messages[i + k].Header.Iov;
                }

                target->Header.Iov = Iov + iovUsed;
                target->Header.IovLength = (nuint)run;
                iovUsed += run;
                byte* control = Control + (merged * ControlSpace);
                *(nuint*)control = ControlLength;
                *(int*)(control + 8) = SolUdp;
                *(int*)(control + 12) = UdpSegment;
                *(ushort*)(control + 16) = (ushort)segment;
                target->Header.Control = control;
                target->Header.ControlLength = ControlSpace;
            }
            else
            {
                target->Header.Control = null;
                target->Header.ControlLength = 0;
            }

            First[merged] = i;
            Count[merged] = run;
            merged++;
            i += run;
        }

        return merged;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.Free(_memory);
            _memory = null;
        }
    }

    private static bool SameAddress(Libc.MsgHdr* a, Libc.MsgHdr* b) =>
        a->NameLength == b->NameLength && new ReadOnlySpan<byte>(a->Name, (int)a->NameLength).SequenceEqual(new ReadOnlySpan<byte>(b->Name, (int)b->NameLength));
}
