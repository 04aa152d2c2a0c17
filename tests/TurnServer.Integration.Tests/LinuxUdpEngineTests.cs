using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TurnServer.Hosting;
using TurnServer.Hosting.Configuration;
using TurnServer.Hosting.Udp;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>
/// The Linux UDP engine (epoll workers, recvmmsg/sendmmsg, segmentation offload) against the portable one, over real
/// loopback sockets: same bytes on the wire, nothing allocated per packet, ports and sockets released.
/// </summary>
public partial class LinuxUdpEngineTests
{
    private const ushort Channel = 0x4001;

    [Theory]
    [LinuxEngineInlineData(true)]
    [InlineData(false)]
    public async Task Each_engine_relays_a_burst_of_channel_data_both_ways_in_order(bool linuxUdp)
    {
        await using TestServer server = await TestServer.StartAsync([], null, linuxUdp);
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        await client.AllocateAsync();
        await BindAsync(client, peer.EndPoint);

        // 64 equal-size frames sent back to back: the Linux engine reads them in batches and sends runs of them
        // with one segmented send each; the peer and the client must still see 64 separate datagrams, in order.
        const int count = 64;
        for (int i = 0; i < count; i++)
        {
            client.SendRaw(Frame(i, 300));
        }

        for (int i = 0; i < count; i++)
        {
            Assert.Equal(Frame(i, 300), await client.ReceiveAsync());
        }

        Assert.Equal(count, peer.Received.Count);
        Assert.Equal(Enumerable.Range(0, count), peer.Received.Select(r => BitConverter.ToInt32(r.Data)));
        Assert.Equal(0, server.Engine.Counters.TotalDropped);
    }

    /// <summary>
    /// A peer datagram bigger than a relay's receive buffer would reach the client cut short, and a client cannot tell:
    /// each engine drops it, counted as truncated, and relays the next one whole.
    /// </summary>
    [Theory]
    [LinuxEngineInlineData(true)]
    [InlineData(false)]
    public async Task Each_engine_drops_a_peer_datagram_too_big_for_its_buffer_and_relays_the_next(bool linuxUdp)
    {
        await using TestServer server = await TestServer.StartAsync([], null, linuxUdp);
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relay = await client.AllocateAsync();
        await BindAsync(client, (IPEndPoint)peer.LocalEndPoint!);

        peer.SendTo(new byte[4000], relay.ToEndPoint());
        byte[] small = [1, 2, 3, 4, 5, 6, 7, 8];
        peer.SendTo(small, relay.ToEndPoint());

        byte[] frame = await client.ReceiveAsync();
        Assert.Equal(ChannelData.HeaderLength + small.Length, frame.Length);
        Assert.Equal(small, frame[ChannelData.HeaderLength..]);
        Assert.Equal(1, server.Engine.Counters.GetDropped(DropReason.Truncated));
    }

    [LinuxEngineFact]
    public async Task The_relay_steady_state_allocates_nothing_on_the_worker_threads()
    {
        await using TestServer server = await TestServer.StartAsync([], null, linuxUdp: true);
        LinuxUdpEngine engine = server.Host.Services.GetRequiredService<LinuxUdpEngine>();
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(server.UdpEndPoint);
        await client.AllocateAsync();
        await BindAsync(client, peer.EndPoint);
        await RoundTripsAsync(client, 0, 500); // warm: JIT tiers, first batches, first segmented sends

        long before = engine.Workers.Sum(w => w.AllocatedBytes);
        await RoundTripsAsync(client, 500, 2000);
        long after = engine.Workers.Sum(w => w.AllocatedBytes);

        Assert.True(before > 0, "the workers publish what they allocated (setting up the allocation did)");
        Assert.Equal(0, after - before);
    }

    /// <summary>
    /// A worker whose epoll set fails cannot go on, and its share of clients would go unanswered: the server stops as
    /// on SIGTERM and exits 70 (EX_SOFTWARE) so that systemd restarts it.
    /// </summary>
    [LinuxEngineFact]
    public async Task A_worker_whose_epoll_set_fails_stops_the_server_with_exit_code_70()
    {
        await using TestServer server = await TestServer.StartAsync(["--relay-threads=0"], null, linuxUdp: true);
        LinuxUdpWorker worker = Assert.Single(server.Host.Services.GetRequiredService<LinuxUdpEngine>().Workers);
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration registration = server.Host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult());
        Assert.Equal(0, server.Host.Services.GetRequiredService<Hosting.Lifecycle.ServerFailure>().ExitCode);

        // /dev/null takes the epoll set's descriptor number (dup2 swaps it in one step, so no other test's descriptor
        // can land there): the worker's wait in progress ends with this datagram, and its next epoll_wait fails.
        using (FileStream devNull = File.OpenRead("/dev/null"))
        {
            Assert.True(Dup2((int)devNull.SafeFileHandle.DangerousGetHandle(), worker.EpollDescriptor) >= 0);
        }

        using var client = new StunUdpClient(server.UdpEndPoint);
        client.SendRaw(client.Build(StunMethod.Binding, null, TransactionId.NewRandom(), sign: false));
        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ExitCodes.Software, server.Host.Services.GetRequiredService<Hosting.Lifecycle.ServerFailure>().ExitCode);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int oldDescriptor, int newDescriptor);

    [Fact]
    public unsafe void Segmentation_offload_merges_only_runs_to_one_address_of_one_size()
    {
        byte[] a = new byte[DatagramBatch.NameSize];
        byte[] b = new byte[DatagramBatch.NameSize];
        SockAddr.Write(new TransportAddress(IPAddress.Parse("192.0.2.1"), 1000), v6Socket: false, a);
        SockAddr.Write(new TransportAddress(IPAddress.Parse("192.0.2.1"), 1001), v6Socket: false, b);
        using var batch = new DatagramBatch(16, 2048);
        int[] sizes = [100, 100, 100, 40, 100, 100, 200, 100, 100];
        byte[][] names = [a, a, a, a, a, b, b, b, b];
        for (int i = 0; i < sizes.Length; i++)
        {
            Assert.True(batch.TryAdd(7, new byte[sizes[i]], names[i].AsSpan(0, 16)));
        }

        using var offload = new SegmentationOffload(16);
        int merged = offload.Coalesce(batch.Headers, batch.Count);

        // [100 100 100 40] to a: one run, which the shorter segment ends; [100] to a alone (the address changes next);
        // [100] to b alone (200 is bigger than the run's size); [200 100] to b: one run, 100 being a shorter last
        // segment; [100] to b alone.
        Assert.Equal(5, merged);
        Assert.Equal([4, 1, 1, 2, 1], Enumerable.Range(0, merged).Select(k => offload.Count[k]));
        Assert.Equal([0, 4, 5, 6, 8], Enumerable.Range(0, merged).Select(k => offload.First[k]));
        Assert.Equal(4u, (uint)offload.Headers[0].Header.IovLength);
        Assert.True(offload.Headers[1].Header.Control == null);
    }

    /// <summary>
    /// Datagrams over 1,452 bytes are never merged: a route with a 1,500-byte MTU makes the kernel refuse such a
    /// segmented send (EINVAL before Linux 6.14), which loopback's 64 KiB MTU would never show.
    /// </summary>
    [Fact]
    public unsafe void Segmentation_offload_leaves_datagrams_over_1452_bytes_alone()
    {
        byte[] a = new byte[DatagramBatch.NameSize];
        SockAddr.Write(new TransportAddress(IPAddress.Parse("192.0.2.1"), 1000), v6Socket: false, a);
        using var batch = new DatagramBatch(16, 2048);
        int[] sizes = [1453, 1453, 1452, 1452];
        foreach (int size in sizes)
        {
            Assert.True(batch.TryAdd(7, new byte[size], a.AsSpan(0, 16)));
        }

        using var offload = new SegmentationOffload(16);
        int merged = offload.Coalesce(batch.Headers, batch.Count);

        Assert.Equal([1, 1, 2], Enumerable.Range(0, merged).Select(k => offload.Count[k]));
        Assert.True(offload.Headers[0].Header.Control == null);
        Assert.True(offload.Headers[2].Header.Control != null);
    }

    /// <summary>
    /// Regression (found in review): EINVAL for a run of segments of 1,232 bytes or fewer was taken for the kernel
    /// refusing offload, and turned it off for the whole worker; but an IPv4 path MTU can fall to 552 bytes (a small
    /// link, or a forged ICMP "fragmentation needed"), and kernels before 6.14 refuse larger segments with EINVAL.
    /// </summary>
    [Theory]
    [InlineData("192.0.2.1", false, 1200, true)]
    [InlineData("192.0.2.1", true, 1200, true)] // IPv4-mapped, from a dual-stack socket
    [InlineData("192.0.2.1", false, 524, false)]
    [InlineData("2001:db8::1", true, 1200, false)]
    [InlineData("2001:db8::1", true, 1233, true)]
    public void Einval_counts_as_a_size_error_only_above_the_destination_familys_smallest_mtu(string ip, bool v6Socket, int segmentBytes, bool sizeError)
    {
        byte[] name = new byte[DatagramBatch.NameSize];
        int length = SockAddr.Write(new TransportAddress(IPAddress.Parse(ip), 3478), v6Socket, name);

        Assert.Equal(sizeError, SegmentationOffload.IsSizeError(Libc.EINVAL, (nuint)segmentBytes, name.AsSpan(0, length)));
        Assert.True(SegmentationOffload.IsSizeError(Libc.EMSGSIZE, (nuint)segmentBytes, name.AsSpan(0, length)));
        Assert.False(SegmentationOffload.IsSizeError(Libc.EOPNOTSUPP, (nuint)segmentBytes, name.AsSpan(0, length)));
    }

    [Theory]
    [InlineData("192.0.2.1", 3478, false)]
    [InlineData("2001:db8::1", 3478, true)]
    [InlineData("192.0.2.1", 65535, true)]
    public void Socket_addresses_round_trip_through_the_kernel_layout(string ip, int port, bool v6Socket)
    {
        var address = new TransportAddress(IPAddress.Parse(ip), port);
        var raw = new byte[DatagramBatch.NameSize];
        int length = SockAddr.Write(address, v6Socket, raw);

        Assert.Equal(v6Socket ? 28 : 16, length);
        Assert.True(SockAddr.TryRead(raw.AsSpan(0, length), out TransportAddress read));
        Assert.Equal(address, read); // IPv4 written mapped into an IPv6 sockaddr reads back as IPv4
        Assert.False(SockAddr.TryRead(raw.AsSpan(0, 8), out _));
    }

    /// <summary>coTURN's relay-threads sets the engine's workers (0: one, as coTURN's single-threaded mode); each relays.</summary>
    [Theory]
    [LinuxEngineInlineData(3, 3)]
    [LinuxEngineInlineData(0, 1)]
    public async Task Relay_threads_sets_the_worker_count_and_every_worker_relays(int relayThreads, int workers)
    {
        await using TestServer server = await TestServer.StartAsync(["--relay-threads=" + relayThreads], null, linuxUdp: true);
        Assert.Equal(workers, server.Host.Services.GetRequiredService<LinuxUdpEngine>().WorkerCount);

        // Allocations are spread over the workers: one per worker and then one more, each relaying both ways.
        using var peer = new UdpEchoPeer();
        for (int i = 0; i <= workers; i++)
        {
            using var client = new StunUdpClient(server.UdpEndPoint);
            await client.AllocateAsync();
            await BindAsync(client, peer.EndPoint);
            client.SendRaw(Frame(i, 100));
            Assert.Equal(Frame(i, 100), await client.ReceiveAsync());
        }

        Assert.Equal(0, server.Engine.Counters.TotalDropped);
    }

    [LinuxEngineFact]
    public async Task A_port_another_socket_holds_fails_start_up_although_listeners_use_SO_REUSEPORT()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;

        await Assert.ThrowsAsync<SocketException>(() => TestServer.StartRawAsync(
            ["-n", "--listening-ip=127.0.0.1", "--listening-port=" + port, "--no-auth", "--no-tcp", "--no-tls", "--no-dtls", "--no-stdout-log"], null, linuxUdp: true));
    }

    [LinuxEngineFact]
    public async Task Deleting_an_allocation_closes_its_relay_socket_on_the_worker()
    {
        await using TestServer server = await TestServer.StartAsync([], null, linuxUdp: true);
        using var client = new StunUdpClient(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync();
        Assert.Equal(0, StunUdpClient.Code(await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));

        // The Refresh was handled on the worker that owns the relay socket, which closed it before answering.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(relayed.ToEndPoint());
        Assert.Equal(0, server.Engine.Allocations.Count);
    }

    /// <summary>
    /// Regression: when a service after the UDP listeners failed to start (proc-user refused, say), disposing the host
    /// crashed in the worker's Join ("Collection was modified") instead of exiting with the start-up error.
    /// </summary>
    [LinuxEngineFact]
    public async Task A_failed_start_after_the_udp_listeners_closes_them_without_crashing()
    {
        TurnServerConfigLoadResult config = TurnServerConfigLoader.Load(["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--no-tcp", "--no-tls", "--no-dtls", "--no-auth", "--no-stdout-log"], new Dictionary<string, string?>(), () => []);
        IHost host = TurnServerHostFactory.Create(config.Settings!, linuxUdp: true, configureServices: s => s.AddHostedService<FailingService>());
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        IPEndPoint bound = host.Services.GetServices<IHostedService>().OfType<UdpListener>().Single().LocalEndPoint;

        host.Dispose();

        using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rebind.Bind(bound); // the listener's sockets were closed
    }

    private sealed class FailingService : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("refused");

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static async Task BindAsync(StunUdpClient client, IPEndPoint peer)
    {
        TransportAddress peerAddress = TransportAddress.FromEndPoint(peer);
        byte[] bind = await client.RequestAsync(StunMethod.ChannelBind, (ref StunMessageWriter w) =>
        {
            w.WriteChannelNumber(Channel);
            w.WriteXorAddress(StunAttributeType.XorPeerAddress, peerAddress);
        });
        Assert.Equal(0, StunUdpClient.Code(bind));
    }

    /// <summary>Sends frames <paramref name="from"/>..<paramref name="to"/> in windows of 32 and checks each echo.</summary>
    private static async Task RoundTripsAsync(StunUdpClient client, int from, int to)
    {
        for (int start = from; start < to; start += 32)
        {
            int end = Math.Min(to, start + 32);
            for (int i = start; i < end; i++)
            {
                client.SendRaw(Frame(i, 160));
            }

            for (int i = start; i < end; i++)
            {
                Assert.Equal(Frame(i, 160), await client.ReceiveAsync());
            }
        }
    }

    private static byte[] Frame(int sequence, int payloadLength)
    {
        var frame = new byte[ChannelData.HeaderLength + payloadLength];
        ChannelData.WriteHeader(frame, Channel, payloadLength);
        BitConverter.TryWriteBytes(frame.AsSpan(ChannelData.HeaderLength), sequence);
        return frame;
    }
}
