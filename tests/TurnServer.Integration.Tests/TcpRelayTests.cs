using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tcp;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>RFC 6062 over real sockets: a peer connects to the TCP relayed address and bytes flow both ways unframed.</summary>
public class TcpRelayTests
{
    [Fact]
    public async Task A_peer_connection_is_offered_bound_and_relayed_both_ways()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient control = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        TransportAddress relayed = await AllocateTcpForLoopbackPeersAsync(control);

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(relayed.ToEndPoint());
        await peer.SendAsync("early bytes from the peer "u8.ToArray()); // buffered until the bind (RFC 6062 section 5.3)

        byte[] attempt = await control.ReceiveAsync();
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(attempt, out StunMessageReader message));
        Assert.Equal(StunMethod.ConnectionAttempt, message.Method);
        Assert.True(message.TryGetXorAddress(StunAttributeType.XorPeerAddress, out TransportAddress from));
        Assert.Equal(TransportAddress.FromEndPoint((IPEndPoint)peer.LocalEndPoint!), from);
        Assert.True(message.TryGetUInt32(StunAttributeType.ConnectionId, out uint connectionId));

        using StunStreamClient data = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        byte[] bind = await data.RequestAsync(StunMethod.ConnectionBind, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.ConnectionId, connectionId));
        Assert.Equal(0, StunTestClient.Code(bind));

        // From here the data connection is a plain byte pipe: no framing either way.
        byte[] fromClient = new byte[5000];
        new Random(5).NextBytes(fromClient);
        await data.Stream.WriteAsync(fromClient);
        Assert.Equal(fromClient, await ReadExactlyAsync(peer, fromClient.Length));

        await peer.SendAsync("and the rest"u8.ToArray());
        byte[] expected = [.. "early bytes from the peer and the rest"u8];
        Assert.Equal(expected, await data.ReadRawAsync(expected.Length));

        // Counted before they were handed to the client, so final now: the peer's bytes, unframed, byte for byte.
        Allocation allocation = Assert.Single(server.Engine.Allocations.All);
        Assert.Equal(expected.Length, Volatile.Read(ref allocation.PeerBytesReceived));
        Assert.Equal(expected.Length, Volatile.Read(ref allocation.ClientBytesSent));

        // Closing the peer closes the client data connection.
        peer.Shutdown(SocketShutdown.Both);
        peer.Close();
        await data.WaitForCloseAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// A bound data connection must not outlive its allocation, relaying from a relayed address whose port has gone
    /// back to the pool. Deleting the allocation (here Refresh 0 on the control connection; expiry and the control
    /// connection closing take the same path) closes its peer connections and so their data connections, as coTURN
    /// does.
    /// </summary>
    [Fact]
    public async Task Deleting_the_allocation_closes_its_data_connections_and_their_peers()
    {
        await using TestServer server = await TestServer.StartAsync();
        using BoundDataConnection bound = await BindDataConnectionAsync(server);
        (StunStreamClient control, Socket peer, StunStreamClient data) = bound;
        await data.Stream.WriteAsync("bound"u8.ToArray());
        Assert.Equal("bound"u8.ToArray(), await ReadExactlyAsync(peer, 5));

        Assert.Equal(0, StunTestClient.Code(await control.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));

        await data.WaitForCloseAsync(TimeSpan.FromSeconds(10));
        byte[] rest = new byte[16];
        Assert.Equal(0, await peer.ReceiveAsync(rest, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10))); // the peer sees the end too
        Assert.Empty(server.Engine.Allocations.All);
    }

    /// <summary>
    /// Regression: a client data connection that stopped reading while its peer kept sending stayed open, with its
    /// descriptor, after its allocation was deleted: the copy from the peer waited for room in the outbound queue,
    /// which the stuck write to the client never made, and deleting the allocation closed only the peer's side.
    /// </summary>
    [Fact]
    public async Task A_data_connection_that_stops_reading_is_closed_with_its_allocation()
    {
        await using TestServer server = await TestServer.StartAsync();
        long baseline = server.Descriptors.InUse;
        using BoundDataConnection bound = await BindDataConnectionAsync(server, receiveBufferSize: 4096);
        (StunStreamClient control, Socket peer, StunStreamClient data) = bound;
        Allocation allocation = Assert.Single(server.Engine.Allocations.All);

        // The peer sends until the bytes the server takes for the client, which reads nothing, stop adding up: the
        // kernel buffers and the server's 1 MB queue are full, and its write to the client is stuck.
        using var stop = new CancellationTokenSource();
        Task flooding = FloodAsync(peer, stop.Token);
        await Poll.UntilSteadyAsync(() => Volatile.Read(ref allocation.ClientBytesSent), 1 << 20, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), "bytes for the client pile up until the server's write is stuck");

        Assert.Equal(0, StunTestClient.Code(await control.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0))));

        await Poll.UntilAsync(() => server.Descriptors.InUse == baseline, TimeSpan.FromSeconds(10), "every descriptor of the allocation and its connections is given back");
        await stop.CancelAsync();
        await flooding.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// A data connection whose peer sent its last bytes and closed is closed too, but only once its client has them
    /// all: a client that keeps reading, however slowly, is not cut off like one that stopped reading. Here nearly
    /// 1 MB waits on the server when the peer's end arrives, and the client reads slowly for longer than the server's
    /// close timeout first, so the server must see its progress more than once.
    /// </summary>
    [Fact]
    public async Task A_slow_client_gets_every_byte_a_peer_sent_before_closing()
    {
        await using TestServer server = await TestServer.StartAsync();
        using BoundDataConnection bound = await BindDataConnectionAsync(server, receiveBufferSize: 4096, maxSegmentSize: 1000);
        (StunStreamClient control, Socket peer, StunStreamClient data) = bound;
        Allocation allocation = Assert.Single(server.Engine.Allocations.All);

        // Under the server's 1 MB queue, so it reads all of it, and the peer's end, while the client reads nothing.
        byte[] sent = new byte[(1 << 20) - (64 << 10)];
        new Random(7).NextBytes(sent);
        await peer.SendAsync(sent, SocketFlags.None);
        peer.Shutdown(SocketShutdown.Send);
        await Poll.UntilAsync(() => Volatile.Read(ref allocation.PeerBytesReceived) == sent.Length, TimeSpan.FromSeconds(10), "the server has read everything the peer sent");

        // 16 KB at a time, eight times per close timeout (a server write of 16 KB may need two of them): well over the
        // server's floor of 16 KB per timeout, yet far slower than the rest, read at once afterwards. The pause paces
        // the reader, it waits for nothing.
        TimeSpan pause = StreamClientConnection.CloseTimeout / 8;
        using var received = new MemoryStream();
        for (int i = 0; i < 12; i++)
        {
            received.Write(await data.ReadRawAsync(StreamClientConnection.CloseMinBytes));
            await Task.Delay(pause);
        }

        received.Write(await data.ReadRawAsync(sent.Length - (int)received.Length));
        Assert.True(sent.AsSpan().SequenceEqual(received.ToArray()), "every byte, in order");
        await data.WaitForCloseAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// Regression: a client that finished sending got its peer connection closed at once, while bytes from the peer
    /// waited unread on it. On unread input Linux turns close(2) into an RST, which also threw away the client's last
    /// bytes still queued for the peer, and the peer had no way to send the rest of its own. Now the client's end
    /// goes to the peer after its bytes, and the peer's bytes still reach the client until the peer ends too.
    /// </summary>
    [Fact]
    public async Task A_client_that_closes_first_gets_the_rest_of_the_peers_bytes_and_the_peer_gets_all_of_the_clients()
    {
        await using TestServer server = await TestServer.StartAsync();
        using BoundDataConnection bound = await BindDataConnectionAsync(server, receiveBufferSize: 4096);
        (_, Socket peer, StunStreamClient data) = bound;
        Allocation allocation = Assert.Single(server.Engine.Allocations.All);

        // More than the server's 1 MB queue and the kernel buffers to a client that reads nothing yet can hold: the
        // server stops reading the peer with its bytes still unread.
        byte[] fromPeer = RandomBytes(8 << 20, seed: 11);
        Task peerSending = Task.Run(async () =>
        {
            await peer.SendAsync(fromPeer, SocketFlags.None);
            peer.Shutdown(SocketShutdown.Send);
        });
        await Poll.UntilSteadyAsync(() => Volatile.Read(ref allocation.ClientBytesSent), 1 << 20, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), "the server has stopped reading the peer for the client");

        byte[] fromClient = RandomBytes(8192, seed: 12);
        await data.Stream.WriteAsync(fromClient);
        data.Socket.Shutdown(SocketShutdown.Send);
        Task<byte[]> clientReceiving = data.ReadRawAsync(fromPeer.Length);

        Assert.Equal(fromClient, await ReadExactlyAsync(peer, fromClient.Length));
        Assert.Equal(0, await peer.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10))); // the client's end, passed on
        await peerSending.WaitAsync(TimeSpan.FromSeconds(30));
        byte[] received = await clientReceiving;
        Assert.True(fromPeer.AsSpan().SequenceEqual(received), "every byte of the peer's, in order");
        await data.WaitForCloseAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// Regression: once its peer had ended, a data connection was closed as soon as its queue was written, though the
    /// client, still talking, had sent bytes the server no longer read: the RST Linux sends on closing with unread
    /// input threw away what the kernel still held for the client, and the client read a fraction of the peer's last
    /// bytes before "connection reset". Now the server ends its side (after a TLS close_notify) and reads what the
    /// client still sends until the client ends too.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_peer_that_closes_first_has_every_byte_delivered_to_a_client_still_sending(bool tls)
    {
        using var certificate = new TestCertificate();
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        using BoundDataConnection bound = await BindDataConnectionAsync(server, receiveBufferSize: 4096, tls: tls ? certificate : null);
        (_, Socket peer, StunStreamClient data) = bound;
        var relay = (TcpRelaySocket)Assert.Single(server.Engine.Allocations.All).GetRelay(AddressFamily.InterNetwork)!;

        byte[] fromPeer = RandomBytes(256 << 10, seed: 13);
        await peer.SendAsync(fromPeer, SocketFlags.None);
        peer.Shutdown(SocketShutdown.Send);
        await Poll.UntilAsync(() => relay.PeerConnections.Count == 0, TimeSpan.FromSeconds(10), "the server has read the peer's end and closed its side of it");

        await data.Stream.WriteAsync(new byte[100]);
        byte[] received = await data.ReadRawAsync(fromPeer.Length);
        Assert.True(fromPeer.AsSpan().SequenceEqual(received), "every byte of the peer's, in order");
        await data.WaitForCloseAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Connect_reaches_a_listening_peer_and_a_closed_port_answers_447()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using StunStreamClient control = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        TransportAddress relayed = await control.AllocateAsync((ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 6));

        TransportAddress target = TransportAddress.FromEndPoint((IPEndPoint)listener.LocalEndPoint!);
        byte[] connected = await control.RequestAsync(StunMethod.Connect, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, target));
        Assert.Equal(0, StunTestClient.Code(connected));
        using Socket accepted = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(relayed.ToEndPoint(), accepted.RemoteEndPoint); // the connection comes from the relayed address

        // Bound but not listening: Linux answers a SYN to it with RST, and no other process can take the port meanwhile.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        TransportAddress nobody = TransportAddress.FromEndPoint((IPEndPoint)closed.LocalEndPoint!);
        byte[] refused = await control.RequestAsync(StunMethod.Connect, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, nobody));
        Assert.Equal(447, StunTestClient.Code(refused));
    }

    /// <summary>
    /// Regression: a Connect still under way (SYN sent, no answer) was in no list the relay closes, so deleting the
    /// allocation left its socket, descriptor and the relay's port (back in the pool) for up to the 30 s connect
    /// timeout. Here the peer is a listener whose accept queue is full, so Linux drops the relay's SYNs.
    /// </summary>
    [Fact]
    public async Task Closing_the_control_connection_ends_a_connect_still_under_way()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0); // room for one connection, never accepted
        using var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await filler.ConnectAsync(listener.LocalEndPoint!);
        long baseline = server.Descriptors.InUse;

        using (StunStreamClient control = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]))
        {
            await control.AllocateAsync((ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 6));
            long allocated = server.Descriptors.InUse; // the connection and the relay's listener
            TransportAddress target = TransportAddress.FromEndPoint((IPEndPoint)listener.LocalEndPoint!);
            await control.SendRawAsync(control.Build(StunMethod.Connect, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, target), TransactionId.NewRandom(), sign: true));
            await Poll.UntilAsync(() => server.Descriptors.InUse == allocated + 1, TimeSpan.FromSeconds(10), "the Connect has a socket of its own");
        }

        var closing = System.Diagnostics.Stopwatch.StartNew();
        await Poll.UntilAsync(() => server.Descriptors.InUse == baseline, TimeSpan.FromSeconds(10), "every descriptor, the connecting socket's among them, is given back");
        Assert.True(closing.Elapsed < TcpRelayEndpoint.ConnectTimeout / 3, "not left to the 30 s connect timeout");
        Assert.Equal(server.Engine.Ports.Capacity, server.Engine.Ports.FreeCount);
    }

    /// <summary>
    /// Regression: the relay's accept loop ended on any accept error but a reset, an abort or descriptor exhaustion,
    /// so peers could no longer connect in for the rest of the allocation's life. shutdown(2) on the listening socket
    /// makes accept fail with EINVAL until listen(2) is called again.
    /// </summary>
    [Fact]
    public async Task The_relay_keeps_accepting_peers_after_an_accept_fails_unexpectedly()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient control = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        TransportAddress relayed = await AllocateTcpForLoopbackPeersAsync(control);
        var relay = (Hosting.Tcp.TcpRelaySocket)Assert.Single(server.Engine.Allocations.All).GetRelay(AddressFamily.InterNetwork)!;

        relay.ListeningSocket.Shutdown(SocketShutdown.Both);
        await Poll.UntilAsync(() => relay.AcceptFailures > 0, TimeSpan.FromSeconds(10), "the accept failed");
        relay.ListeningSocket.Listen();

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(relayed.ToEndPoint());
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(await control.ReceiveAsync(), out StunMessageReader attempt));
        Assert.Equal(StunMethod.ConnectionAttempt, attempt.Method);
    }

    /// <summary>
    /// Regression: RFC 6062 peer connections had no TCP keepalive, unlike client connections, so one whose peer
    /// vanished without a word kept its descriptor, and the data connection bound to it, while the client refreshed.
    /// Peer connections made either way now probe as client connections do.
    /// </summary>
    [Fact]
    public async Task Peer_connections_either_way_use_the_keepalive_of_client_connections()
    {
        await using TestServer server = await TestServer.StartAsync();
        using StunStreamClient control = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        TransportAddress relayed = await AllocateTcpForLoopbackPeersAsync(control);
        using var incoming = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await incoming.ConnectAsync(relayed.ToEndPoint());
        Assert.True(StunMessageReader.TryParse(await control.ReceiveAsync(), out StunMessageReader attempt) == StunParseResult.Success);
        Assert.Equal(StunMethod.ConnectionAttempt, attempt.Method);

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        TransportAddress target = TransportAddress.FromEndPoint((IPEndPoint)listener.LocalEndPoint!);
        Assert.Equal(0, StunTestClient.Code(await control.RequestAsync(StunMethod.Connect, (ref StunMessageWriter w) => w.WriteXorAddress(StunAttributeType.XorPeerAddress, target))));

        var relay = (TcpRelaySocket)Assert.Single(server.Engine.Allocations.All).GetRelay(AddressFamily.InterNetwork)!;
        Assert.Equal(2, relay.PeerConnections.Count);
        Assert.All(relay.PeerConnections, peer =>
        {
            Assert.Equal(1, (int)peer.Socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
            Assert.Equal(TcpKeepAlive.IdleSeconds, (int)peer.Socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!);
            Assert.Equal(TcpKeepAlive.IntervalSeconds, (int)peer.Socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval)!);
            Assert.Equal(TcpKeepAlive.Probes, (int)peer.Socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);
        });
    }

    /// <summary>
    /// A TCP allocation for loopback peers, a peer connected to its relayed address, and a data connection (with the
    /// given socket options) bound to that peer by ConnectionBind (RFC 6062 sections 5.3 and 5.4).
    /// </summary>
    private static async Task<BoundDataConnection> BindDataConnectionAsync(TestServer server, int? receiveBufferSize = null, int? maxSegmentSize = null, TestCertificate? tls = null)
    {
        StunStreamClient control = await StunStreamClient.ConnectAsync(server.TcpEndPoints[0]);
        TransportAddress relayed = await AllocateTcpForLoopbackPeersAsync(control);
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(relayed.ToEndPoint());
        Assert.True(StunMessageReader.TryParse(await control.ReceiveAsync(), out StunMessageReader attempt) == StunParseResult.Success);
        Assert.True(attempt.TryGetUInt32(StunAttributeType.ConnectionId, out uint connectionId));
        StunStreamClient data = tls is null
            ? await StunStreamClient.ConnectAsync(server.TcpEndPoints[0], receiveBufferSize: receiveBufferSize, maxSegmentSize: maxSegmentSize)
            : await StunStreamClient.ConnectAsync(server.TlsEndPoints[0], tls.Certificate, receiveBufferSize: receiveBufferSize, maxSegmentSize: maxSegmentSize);
        Assert.Equal(0, StunTestClient.Code(await data.RequestAsync(StunMethod.ConnectionBind, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.ConnectionId, connectionId))));
        return new BoundDataConnection(control, peer, data);
    }

    /// <summary>A TCP allocation (RFC 6062) with a permission for peers on 127.0.0.1; returns its relayed address.</summary>
    private static async Task<TransportAddress> AllocateTcpForLoopbackPeersAsync(StunStreamClient control)
    {
        TransportAddress relayed = await control.AllocateAsync((ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 6));
        Assert.Equal(0, StunTestClient.Code(await control.RequestAsync(StunMethod.CreatePermission, (ref StunMessageWriter w) =>
            w.WriteXorAddress(StunAttributeType.XorPeerAddress, new TransportAddress(IPAddress.Loopback, 0)))));
        return relayed;
    }

    /// <summary>Sends 64 KB chunks, at most 64 MB, until cancelled or the connection ends.</summary>
    private static async Task FloodAsync(Socket peer, CancellationToken stop)
    {
        byte[] chunk = new byte[65536];
        try
        {
            for (int i = 0; i < 1024 && !stop.IsCancellationRequested; i++)
            {
                await peer.SendAsync(chunk, SocketFlags.None, stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            // stopped, or the server closed the peer connection
        }
    }

    private static byte[] RandomBytes(int count, int seed)
    {
        byte[] bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Reads from the socket itself: a NetworkStream refuses a socket whose sending side is shut down.</summary>
    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (int read = 0; read < count;)
        {
            int got = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token);
            read += got > 0 ? got : throw new EndOfStreamException($"the connection ended after {read} of {count} bytes");
        }

        return buffer;
    }

    /// <summary>The three connections of one relayed TCP peer: control, peer and client data connection.</summary>
    private sealed record BoundDataConnection(StunStreamClient Control, Socket Peer, StunStreamClient Data) : IDisposable
    {
        public void Dispose()
        {
            Data.Dispose();
            Peer.Dispose();
            Control.Dispose();
        }
    }
}
