using TurnServer.Core.Allocations;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Tests.Infrastructure;

namespace TurnServer.Hosting.Tests.Dtls;

public class DtlsDatagramTransportTests
{
    /// <summary>
    /// A session's queue is bounded in bytes as well as datagrams, each counted as its pooled buffer (a power of two:
    /// 2,048 for 1,400 bytes, 1,024 for 1,000, 512 for 300, 16 for 1): large datagrams are refused once the bytes are
    /// spent, small ones still fit, and reading one frees its bytes.
    /// </summary>
    [Fact]
    public void The_queue_refuses_datagrams_past_its_byte_capacity_and_reading_frees_room()
    {
        var transport = new DtlsDatagramTransport(new SilentClient(TransportProtocol.Dtls), new DtlsCounters(), new Lock(), new DtlsLimits { QueueCapacity = 64, QueueByteCapacity = 4608 }, TimeProvider.System);
        byte[] first = Filled(1400, 1);
        Assert.True(transport.TryEnqueue(first));
        Assert.True(transport.TryEnqueue(Filled(1400, 2)));
        Assert.False(transport.TryEnqueue(Filled(1000, 3))); // 5,120 bytes of buffers would be queued
        Assert.True(transport.TryEnqueue(Filled(300, 4))); // exactly 4,608

        byte[] read = new byte[DtlsDatagramTransport.ReceiveLimit];
        Assert.Equal(1400, transport.Receive(read, 0, read.Length, 1000));
        Assert.Equal(first, read[..1400]);
        Assert.True(transport.TryEnqueue(Filled(1400, 5)));
        Assert.False(transport.TryEnqueue(Filled(1, 6)));
        transport.Drain();
    }

    [Fact]
    public void The_queue_refuses_datagrams_past_its_count_however_small()
    {
        var transport = new DtlsDatagramTransport(new SilentClient(TransportProtocol.Dtls), new DtlsCounters(), new Lock(), new DtlsLimits { QueueCapacity = 2, QueueByteCapacity = 3000 }, TimeProvider.System);
        Assert.True(transport.TryEnqueue(Filled(10, 1)));
        Assert.True(transport.TryEnqueue(Filled(10, 2)));
        Assert.False(transport.TryEnqueue(Filled(10, 3)));
        transport.Drain();
    }

    private static byte[] Filled(int length, byte value)
    {
        byte[] datagram = new byte[length];
        Array.Fill(datagram, value);
        return datagram;
    }
}
