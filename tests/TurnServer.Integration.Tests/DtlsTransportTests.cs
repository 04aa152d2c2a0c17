using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Dtls;
using TurnServer.Hosting.Tests.Dtls;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;
using TurnServer.Tests.Shared;

namespace TurnServer.Integration.Tests;

/// <summary>TURN over DTLS (RFC 8656 section 3.1, RFC 6347) on both ports over UDP, against the in-process server.</summary>
public sealed class DtlsTransportTests : IDisposable
{
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(15);
    private readonly TestCertificate _certificate = new();

    public void Dispose() => _certificate.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Allocate_channel_bind_and_channel_data_round_trip_to_a_peer(bool rsa)
    {
        using var certificate = new TestCertificate(rsa);
        await using TestServer server = await TestServer.StartAsync(certificate.Options);
        using var peer = new UdpEchoPeer();
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0], offerRsa: rsa);
        Assert.Equal(certificate.Certificate.RawData, client.ServerCertificate.GetCertificateAt(0).GetEncoded());

        TransportAddress relayed = await client.AllocateAsync();
        await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));
        byte[] frame = ChannelDataFrame(0x4001, [1, 2, 3, 4, 5]);
        await client.SendRawAsync(frame);

        byte[] echoed = await client.ReceiveAsync();
        Assert.Equal(frame, echoed); // 4 + 5 bytes: DTLS is a datagram transport, so ChannelData is not padded
        (byte[] data, IPEndPoint from) = Assert.Single(peer.Received);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, data);
        Assert.Equal(relayed.Port, from.Port);

        Allocation allocation = Assert.Single(server.Engine.Allocations.All);
        Assert.Equal(TransportProtocol.Dtls, allocation.FiveTuple.Protocol);
        Assert.Equal(TransportAddress.FromEndPoint(client.LocalEndPoint), allocation.FiveTuple.ClientAddress);
        Assert.Equal(TransportAddress.FromEndPoint(server.DtlsEndPoints[0]), allocation.FiveTuple.ServerAddress);
        Assert.Equal(1, server.Dtls[0].Counters.HandshakesCompleted);
    }

    [Fact]
    public async Task Dtls_listens_over_udp_on_the_tls_port_number()
    {
        int port = LoopbackPorts.FreeServerPort();
        await using TestServer server = await TestServer.StartRawAsync(
            ["-n", "--listening-ip=127.0.0.1", "--listening-port=0", "--tls-listening-port=" + port, .. _certificate.Options, "--no-stdout-log"]);

        Assert.Equal(port, Assert.Single(server.DtlsEndPoints).Port);
        Assert.Equal(port, Assert.Single(server.TlsEndPoints).Port);
    }

    [Fact]
    public async Task No_dtls_and_no_tls_each_turn_off_only_their_own_listener()
    {
        await using (TestServer server = await TestServer.StartAsync([.. _certificate.Options, "--no-dtls"]))
        {
            Assert.Empty(server.DtlsEndPoints);
            Assert.Single(server.TlsEndPoints);
        }

        await using (TestServer server = await TestServer.StartAsync([.. _certificate.Options, "--no-tls"]))
        {
            Assert.Empty(server.TlsEndPoints);
            using StunDtlsClient client = await StunDtlsClient.ConnectAsync(Assert.Single(server.DtlsEndPoints));
            await client.AllocateAsync();
        }
    }

    /// <summary>With no-udp, even plain STUN and ChannelData are junk on the DTLS port.</summary>
    [Fact]
    public async Task Datagrams_that_do_not_open_a_handshake_are_dropped_and_counted_without_a_session()
    {
        await using TestServer server = await TestServer.StartAsync([.. _certificate.Options, "--no-udp"]);
        DtlsEndpoint endpoint = server.Dtls[0];
        IPEndPoint dtls = server.DtlsEndPoints[0];
        Socket socket = StunDtlsClient.BoundSocket();
        byte[] hello = DtlsTestRecords.ClientHello();
        byte[][] junk =
        [
            [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, .. RandomNumberGenerator.GetBytes(12)], // a STUN Binding request
            ChannelDataFrame(0x4000, [1, 2, 3, 4]),
            DtlsTestRecords.Record(23, DtlsTestRecords.Dtls12, 1, RandomNumberGenerator.GetBytes(40)), // data for no session
            DtlsTestRecords.ClientHello(messageSeq: 1), // the answer to a HelloVerifyRequest never sent
            hello[..^1], // a ClientHello cut short
            [0xFF, .. RandomNumberGenerator.GetBytes(99)],
        ];
        foreach (byte[] datagram in junk)
        {
            socket.SendTo(datagram, dtls);
        }

        // The same address then opens a real session: its datagrams are handled in order, so the junk came first.
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(dtls, socket: socket);
        await client.AllocateAsync();

        Assert.Equal(junk.Length, endpoint.Counters.Get(DtlsDropReason.NotClientHello));
        Assert.Equal(1, endpoint.Counters.HandshakesStarted);
        Assert.Equal(1, endpoint.SessionCount);
    }

    /// <summary>As coTURN's listeners do, the DTLS port also serves plain TURN over UDP.</summary>
    [Fact]
    public async Task Plain_turn_over_udp_is_served_on_the_dtls_port_too()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        IPEndPoint dtlsPort = server.DtlsEndPoints[0];
        using var peer = new UdpEchoPeer();
        using var client = new StunUdpClient(dtlsPort);

        await client.AllocateAsync();
        await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));
        byte[] frame = ChannelDataFrame(0x4001, [1, 2, 3, 4, 5, 6, 7, 8]);
        client.SendRaw(frame);

        Assert.Equal(frame, await client.ReceiveAsync()); // relayed both ways, answered from the DTLS port
        FiveTuple fiveTuple = Assert.Single(server.Engine.Allocations.All).FiveTuple;
        Assert.Equal((TransportProtocol.Udp, dtlsPort.Port), (fiveTuple.Protocol, fiveTuple.ServerAddress.Port));
        Assert.Equal(0, server.Dtls[0].Counters.HandshakesStarted);
    }

    [Fact]
    public async Task A_dtls_1_0_client_hello_gets_a_protocol_version_alert_and_no_session()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using Socket socket = StunDtlsClient.BoundSocket();
        socket.SendTo(DtlsTestRecords.ClientHello(DtlsTestRecords.Dtls10), server.DtlsEndPoints[0]);

        byte[] answer = await ReceiveAsync(socket);
        Assert.Equal(new byte[] { 21, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 70 }, answer); // fatal protocol_version
        Assert.Equal(1, server.Dtls[0].Counters.Get(DtlsDropReason.UnsupportedVersion));
        Assert.Equal(0, server.Dtls[0].Counters.HandshakesStarted);
    }

    /// <summary>
    /// A client that sends a ClientHello and nothing more (a spoofed source looks the same) gets one flight, not a
    /// flight per retransmission timeout, and its session and handshake slot are gone after the handshake timeout.
    /// </summary>
    [Fact]
    public async Task A_handshake_that_never_completes_draws_one_flight_times_out_and_frees_its_slot()
    {
        var limits = new DtlsLimits { HandshakeTimeout = TimeSpan.FromSeconds(1), MaxHandshakes = 1 };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        DtlsEndpoint endpoint = server.Dtls[0];
        using var events = new DtlsSessionEvents(endpoint);
        using Socket silent = StunDtlsClient.BoundSocket();
        silent.SendTo(DtlsTestRecords.ClientHello(), server.DtlsEndPoints[0]);

        byte[] first = await ReceiveAsync(silent);
        Assert.Equal(22, first[0]); // a handshake record
        Assert.Equal(2, first[13]); // holding the ServerHello

        DtlsSessionEnd end = await events.NextAsync(EventTimeout);
        Assert.Equal(DtlsSessionEndReason.HandshakeTimedOut, end.Reason);
        Assert.Equal(TransportAddress.FromEndPoint((IPEndPoint)silent.LocalEndPoint!), end.FiveTuple.ClientAddress);
        Assert.Equal(0, endpoint.SessionCount);
        Assert.True(endpoint.Counters.Get(DtlsDropReason.UnansweredRetransmission) > 0);
        Assert.DoesNotContain(ReceiveQueued(silent), datagram => datagram[0] == 22 && datagram[13] == 2); // no second ServerHello

        // The only handshake slot admits a real client again.
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();
    }

    /// <summary>
    /// A ClientHello repeated from one address (as a forged source would) draws a retransmitted flight each time only
    /// up to the flight limit; after that the server sends that address nothing more for the handshake.
    /// </summary>
    [Fact]
    public async Task A_repeated_client_hello_draws_no_more_flights_than_the_limit()
    {
        var limits = new DtlsLimits { HandshakeTimeout = TimeSpan.FromSeconds(2), MaxHandshakeFlights = 2 };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        DtlsEndpoint endpoint = server.Dtls[0];
        using var events = new DtlsSessionEvents(endpoint);
        using Socket forged = StunDtlsClient.BoundSocket();
        byte[] clientHello = DtlsTestRecords.ClientHello();

        ulong sequence = 0;
        for (int flight = 1; flight <= limits.MaxHandshakeFlights; flight++)
        {
            forged.SendTo(DtlsTestRecords.WithSequence(clientHello, sequence++), server.DtlsEndPoints[0]);
            await ReceiveServerHelloAsync(forged); // the first flight, then BouncyCastle's retransmission of it
        }

        for (int repeat = 0; repeat < 5; repeat++)
        {
            forged.SendTo(DtlsTestRecords.WithSequence(clientHello, sequence++), server.DtlsEndPoints[0]);
        }

        Assert.Equal(DtlsSessionEndReason.HandshakeTimedOut, (await events.NextAsync(EventTimeout)).Reason);
        Assert.DoesNotContain(ReceiveQueued(forged), datagram => datagram[0] == 22 && datagram[13] == 2);
        Assert.True(endpoint.Counters.Get(DtlsDropReason.FlightLimit) > 0);
        Assert.Equal(1, endpoint.Counters.HandshakesStarted);
    }

    /// <summary>
    /// Regression: a ClientHello with a fatal alert behind it in the same datagram (both forgeable from any source)
    /// drew the first flight and ended the handshake at once, freeing its slot for the next. Only the first record of
    /// a datagram that opens a session reaches the handshake, so this one must wait out its timeout.
    /// </summary>
    [Fact]
    public async Task An_alert_behind_the_client_hello_in_its_datagram_does_not_end_the_handshake()
    {
        var limits = new DtlsLimits { HandshakeTimeout = TimeSpan.FromSeconds(1) };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using Socket forged = StunDtlsClient.BoundSocket();
        byte[] alert = DtlsTestRecords.Record(21, DtlsTestRecords.Dtls12, 0, [2, 40], sequence: 1); // fatal handshake_failure
        forged.SendTo([.. DtlsTestRecords.ClientHello(), .. alert], server.DtlsEndPoints[0]);

        await ReceiveServerHelloAsync(forged);
        Assert.Equal(DtlsSessionEndReason.HandshakeTimedOut, (await events.NextAsync(EventTimeout)).Reason);
    }

    /// <summary>
    /// Handshakes that fail at once free their slots at once, so starts per source IP are rate-limited as well: past
    /// the burst, ClientHellos from the address (any port) are refused and counted.
    /// </summary>
    [Fact]
    public async Task Client_hellos_from_one_address_past_its_start_rate_are_refused_and_counted()
    {
        var limits = new DtlsLimits { HandshakeStartsPerAddress = 3, MaxHandshakesPerAddress = 100 };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        DtlsEndpoint endpoint = server.Dtls[0];
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                Socket socket = StunDtlsClient.BoundSocket();
                sockets.Add(socket);
                socket.SendTo(DtlsTestRecords.ClientHello(), server.DtlsEndPoints[0]);

                // Datagrams from one address are handled in order: once this Binding request is answered (past any
                // flight the hello drew), the hello was handled.
                socket.SendTo(BindingRequest(), server.DtlsEndPoints[0]);
                byte[] answer;
                do
                {
                    answer = await ReceiveAsync(socket);
                }
                while (answer[0] != 0x01);
            }

            Assert.Equal(3, endpoint.Counters.HandshakesStarted);
            Assert.Equal(2, endpoint.Counters.Get(DtlsDropReason.AddressStartRate));
        }
        finally
        {
            sockets.ForEach(socket => socket.Dispose());
        }
    }

    /// <summary>
    /// RFC 6347 section 4.2.8: a client that restarts (or a new client given the same port, as turnutils_uclient
    /// processes are when one left a session behind) handshakes again from the address of an established session.
    /// The new session takes the address over and the old one ends with its allocation, so the new Allocate succeeds.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_new_handshake_from_an_established_sessions_address_replaces_it(bool mobile)
    {
        // A mobile allocation outlives a closed connection, but not this: its 5-tuple now belongs to the new session.
        await using TestServer server = await TestServer.StartAsync([.. _certificate.Options, .. mobile ? new[] { "--mobility" } : []]);
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        IPEndPoint address;
        TransportAddress oldRelay;
        using (StunDtlsClient gone = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]))
        {
            oldRelay = await gone.AllocateAsync((ref StunMessageWriter w) =>
            {
                w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
                if (mobile)
                {
                    w.WriteText(StunAttributeType.MobilityTicket, string.Empty);
                }
            });
            Assert.Equal(mobile, Assert.Single(server.Engine.Allocations.All).MobilityTicket is not null);
            address = gone.LocalEndPoint;
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(address);
        using StunDtlsClient restarted = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0], socket: socket);
        TransportAddress newRelay = await restarted.AllocateAsync();

        DtlsSessionEnd end = await events.NextAsync(EventTimeout);
        Assert.Equal(DtlsSessionEndReason.Replaced, end.Reason);
        Assert.Equal(TransportAddress.FromEndPoint(address), end.FiveTuple.ClientAddress);
        (Allocation ended, AllocationEndReason reason) = await server.Events.NextEndAsync(EventTimeout);
        Assert.Equal((oldRelay, AllocationEndReason.ConnectionClosed), (ended.RelayedTransportAddress, reason));
        Assert.Equal(newRelay, Assert.Single(server.Engine.Allocations.All).RelayedTransportAddress);
        Assert.Equal(1, server.Dtls[0].SessionCount);
        Assert.Equal(2, server.Dtls[0].Counters.HandshakesCompleted);
    }

    /// <summary>
    /// A ClientHello forged with an established client's address starts a handshake beside its session but cannot
    /// finish it: the session relays on meanwhile, and goes on when the forged handshake times out.
    /// </summary>
    [Fact]
    public async Task A_forged_client_hello_from_an_established_sessions_address_does_not_end_it()
    {
        var limits = new DtlsLimits { HandshakeTimeout = TimeSpan.FromSeconds(1) };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using var peer = new UdpEchoPeer();
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();
        await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));

        client.Socket.Send(DtlsTestRecords.ClientHello());
        client.Socket.Send(DtlsTestRecords.Record(20, DtlsTestRecords.Dtls12, 0, [1], sequence: 1)); // its ChangeCipherSpec
        byte[] during = ChannelDataFrame(0x4001, [1, 2, 3]);
        await client.SendRawAsync(during);
        Assert.Equal(during, await client.ReceiveAsync());

        Assert.Equal(2, server.Dtls[0].Counters.HandshakesStarted);
        DtlsSessionEnd end = await events.NextAsync(EventTimeout);
        Assert.Equal(DtlsSessionEndReason.HandshakeTimedOut, end.Reason); // the forged handshake's end, not the session's
        byte[] after = ChannelDataFrame(0x4001, [4, 5, 6]);
        await client.SendRawAsync(after);
        Assert.Equal(after, await client.ReceiveAsync());
        Assert.Single(server.Engine.Allocations.All);
        Assert.Equal(1, server.Dtls[0].SessionCount);
    }

    /// <summary>
    /// Records that are not records are dropped before the session sees them; ChannelData in the clear from the
    /// session's address is plain TURN over UDP, a 5-tuple without an allocation, so it is relayed nowhere.
    /// </summary>
    [Fact]
    public async Task Junk_on_an_established_session_is_dropped_and_the_session_keeps_relaying()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using var peer = new UdpEchoPeer();
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();
        await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));
        long noAllocation = server.Engine.Counters.GetDropped(DropReason.NoAllocation);

        client.Socket.Send(ChannelDataFrame(0x4001, [9, 9, 9])); // ChannelData in the clear
        client.Socket.Send(DtlsTestRecords.Record(23, DtlsTestRecords.Dtls12, 1, new byte[40])[..30]); // a record cut short
        client.Socket.Send(DtlsTestRecords.Record(23, DtlsTestRecords.Dtls12, 7, RandomNumberGenerator.GetBytes(40))); // an epoch never entered

        byte[] frame = ChannelDataFrame(0x4001, [1, 2, 3]);
        await client.SendRawAsync(frame);
        Assert.Equal(frame, await client.ReceiveAsync());
        Assert.Equal(new byte[] { 1, 2, 3 }, Assert.Single(peer.Received).Data); // the clear-text ChannelData was not relayed
        Assert.Equal(noAllocation + 1, server.Engine.Counters.GetDropped(DropReason.NoAllocation));
        Assert.Equal(1, server.Dtls[0].Counters.Get(DtlsDropReason.NotDtlsRecord));
        Assert.Equal(1, server.Dtls[0].SessionCount);
    }

    /// <summary>
    /// As in coTURN, DTLS is served on <c>listening-port</c> too, beside plain UDP on the same socket(s), by either UDP
    /// engine; answers and relayed data leave from the port the client used.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Dtls_and_plain_udp_share_the_listening_port(bool linuxUdp)
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, configureServices: null, linuxUdp);
        using var peer = new UdpEchoPeer();
        using StunDtlsClient secure = await StunDtlsClient.ConnectAsync(server.UdpEndPoint);
        using var plain = new StunUdpClient(server.UdpEndPoint);

        await secure.AllocateAsync();
        await plain.AllocateAsync();
        await secure.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer.EndPoint));
        await plain.BindChannelAsync(0x4002, TransportAddress.FromEndPoint(peer.EndPoint));
        byte[] overDtls = ChannelDataFrame(0x4001, [1, 2, 3, 4, 5]);
        byte[] overUdp = ChannelDataFrame(0x4002, [6, 7, 8, 9]);
        await secure.SendRawAsync(overDtls);
        plain.SendRaw(overUdp);

        Assert.Equal(overDtls, await secure.ReceiveAsync());
        Assert.Equal(overUdp, await plain.ReceiveAsync());
        Assert.Equal(
            new[] { (TransportProtocol.Dtls, server.Port), (TransportProtocol.Udp, server.Port) }.Order(),
            server.Engine.Allocations.All.Select(a => (a.FiveTuple.Protocol, (int)a.FiveTuple.ServerAddress.Port)).Order());
        Assert.Equal(1, server.ListeningPortDtls!.Counters.HandshakesCompleted);
        Assert.Equal(0, server.Dtls[0].Counters.HandshakesStarted);
    }

    /// <summary>
    /// Regression: the Linux engine queued datagrams to clients in 2,048-byte slots, so a Data indication for a peer
    /// datagram of 1,976 bytes or more, once sealed in a DTLS record (37 bytes more), did not fit and was dropped as
    /// a failed send. Both engines must carry the largest peer datagram the relay takes to a DTLS client.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_largest_relayed_peer_datagram_reaches_a_dtls_client_as_a_data_indication(bool linuxUdp)
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, configureServices: null, linuxUdp);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.UdpEndPoint);
        TransportAddress relayed = await client.AllocateAsync();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.Equal(0, StunTestClient.Code(await client.RequestAsync(StunMethod.CreatePermission, (ref StunMessageWriter w) =>
            w.WriteXorAddress(StunAttributeType.XorPeerAddress, TransportAddress.FromEndPoint((IPEndPoint)peer.LocalEndPoint!)))));

        foreach (int size in new[] { 1976, Hosting.Udp.UdpRelayEndpoint.MaxPayload })
        {
            byte[] payload = RandomNumberGenerator.GetBytes(size);
            await peer.SendToAsync(payload, SocketFlags.None, relayed.ToEndPoint());

            byte[] indication = await client.ReceiveAsync();
            Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(indication, out StunMessageReader message));
            Assert.Equal(StunMethod.Data, message.Method);
            Assert.True(message.TryGetAttribute(StunAttributeType.Data, out ReadOnlySpan<byte> data));
            Assert.True(data.SequenceEqual(payload), "the DATA attribute carries the peer's datagram");
        }

        Assert.Equal(0, server.Engine.Counters.GetDropped(DropReason.SendFailed));
    }

    /// <summary>Without DTLS (no-dtls, or no certificate) a ClientHello on the listening port is an unknown packet, dropped and counted.</summary>
    [Fact]
    public async Task No_dtls_leaves_the_listening_port_plain()
    {
        await using TestServer server = await TestServer.StartAsync([.. _certificate.Options, "--no-dtls"]);
        using Socket socket = StunDtlsClient.BoundSocket();
        long unknown = server.Engine.Counters.GetDropped(DropReason.UnknownPacket);
        socket.SendTo(DtlsTestRecords.ClientHello(), server.UdpEndPoint);
        socket.SendTo([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, .. RandomNumberGenerator.GetBytes(12)], server.UdpEndPoint);

        // Datagrams from one address are handled in order: once the Binding request is answered, the ClientHello was handled.
        byte[] answer = await ReceiveAsync(socket);
        Assert.Equal(new byte[] { 0x01, 0x01 }, answer[..2]); // a Binding success, nothing before it
        Assert.Null(server.ListeningPortDtls);
        Assert.Equal(unknown + 1, server.Engine.Counters.GetDropped(DropReason.UnknownPacket));
        Assert.Empty(ReceiveQueued(socket));
    }

    /// <summary>
    /// Regression: BouncyCastle treats a record that fails authentication as fatal, so one datagram forged with the
    /// client's address (an application-data record of epoch 1, far ahead in sequence) ended the session and deleted
    /// its allocation. RFC 6347 section 4.1.2.7: it is discarded, and counted; the session goes on, and the forged
    /// sequence number does not move the replay window past the client's own records.
    /// </summary>
    [Fact]
    public async Task A_record_that_fails_authentication_is_dropped_and_the_session_goes_on()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();
        DtlsEndpoint endpoint = server.Dtls[0];

        client.Socket.Send(DtlsTestRecords.Record(23, DtlsTestRecords.Dtls12, 1, RandomNumberGenerator.GetBytes(40), sequence: 1000));
        byte[] refreshed = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 600));

        Assert.Equal(0, StunTestClient.Code(refreshed));
        Assert.Equal(1, endpoint.Counters.Get(DtlsDropReason.UnauthenticatedRecord));
        Assert.Single(server.Engine.Allocations.All);
        Assert.Equal(1, endpoint.SessionCount);
    }

    [Fact]
    public async Task Deleting_the_allocation_answers_the_refresh_then_closes_the_session()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();

        byte[] response = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0));

        Assert.Equal(0, StunTestClient.Code(response));
        Assert.True(await client.WaitForServerCloseAsync()); // close_notify
        Assert.Equal(DtlsSessionEndReason.AllocationEnded, (await events.NextAsync(EventTimeout)).Reason);
        Assert.Equal(0, server.Dtls[0].SessionCount);
    }

    /// <summary>
    /// Regression: a session ended from another thread (here the allocation's removal, as by the sweeper) while it
    /// waited for a record made BouncyCastle spin for the rest of its one-second wait, a core busy and the record layer
    /// locked against relay threads, because the transport answered "nothing yet" at once instead of waiting. Measured
    /// as the session thread's own CPU time (Linux /proc), so tests running beside this one do not count.
    /// </summary>
    [Fact]
    public async Task Ending_a_session_from_another_thread_does_not_spin_while_its_record_layer_waits()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        var atEnd = new TaskCompletionSource<(int Thread, long Ticks)>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Dtls[0].SessionEnded += _ => atEnd.TrySetResult(ThreadCpu("/proc/thread-self/stat")); // on the session thread
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();
        Allocation allocation = Assert.Single(server.Engine.Allocations.All);

        Dictionary<int, long> before = [];
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd() == "DTLS session")
            {
                (int thread, long ticks) = ThreadCpu(Path.Combine(task, "stat"));
                before[thread] = ticks;
            }
        }

        server.Engine.Allocations.Remove(allocation, AllocationEndReason.Expired);
        (int ended, long ticksAtEnd) = await atEnd.Task.WaitAsync(EventTimeout);

        // The spin cost about as much CPU as the wait it filled (up to a second); an idle wait costs next to none.
        // Ticks are the kernel's USER_HZ, 100 a second on Linux.
        long spentMillis = (ticksAtEnd - before[ended]) * 10;
        Assert.True(spentMillis < 200, "the close took " + spentMillis + " ms of the session thread's CPU");
    }

    [Fact]
    public async Task The_clients_close_notify_ends_the_session_and_deletes_its_allocation()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        TransportAddress relayed = await client.AllocateAsync();

        client.Close();

        Assert.Equal(DtlsSessionEndReason.ClosedByClient, (await events.NextAsync(EventTimeout)).Reason);
        (Allocation allocation, AllocationEndReason reason) = await server.Events.NextEndAsync(EventTimeout);
        Assert.Equal(AllocationEndReason.ConnectionClosed, reason);
        Assert.Equal(relayed, allocation.RelayedTransportAddress);
        Assert.Empty(server.Engine.Allocations.All);
    }

    [Fact]
    public async Task A_session_without_an_allocation_is_closed_after_the_allocation_timeout()
    {
        var limits = new DtlsLimits { AllocationTimeout = TimeSpan.FromSeconds(1) };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);

        Assert.True(await client.WaitForServerCloseAsync());
        Assert.Equal(DtlsSessionEndReason.NoAllocation, (await events.NextAsync(EventTimeout)).Reason);
    }

    /// <summary>
    /// Regression: the allocation timeout was only checked after a whole idle second, so a client that kept sending
    /// records without allocating kept its session (and its thread) for good.
    /// </summary>
    [Fact]
    public async Task A_session_that_keeps_sending_without_allocating_is_closed_after_the_allocation_timeout()
    {
        var limits = new DtlsLimits { AllocationTimeout = TimeSpan.FromSeconds(1) };
        await using TestServer server = await TestServer.StartAsync(_certificate.Options, s => s.AddSingleton(limits));
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        Task<DtlsSessionEnd> end = events.NextAsync(EventTimeout);

        // Pacing, not synchronisation: a Binding request every 200 ms leaves the session no idle second.
        while (!end.IsCompleted && !client.ClosedByServer)
        {
            await client.SendRawAsync(BindingRequest());
            await Task.WhenAny(end, Task.Delay(200));
        }

        Assert.Equal(DtlsSessionEndReason.NoAllocation, (await end).Reason);
    }

    [Fact]
    public async Task Stopping_the_server_ends_every_session()
    {
        await using TestServer server = await TestServer.StartAsync(_certificate.Options);
        using var events = new DtlsSessionEvents(server.Dtls[0]);
        using StunDtlsClient client = await StunDtlsClient.ConnectAsync(server.DtlsEndPoints[0]);
        await client.AllocateAsync();

        await server.DisposeAsync();

        // Hosted services stop in reverse order: the sweeper deletes the allocation before the listener stops.
        Assert.Contains((await events.NextAsync(EventTimeout)).Reason, new[] { DtlsSessionEndReason.AllocationEnded, DtlsSessionEndReason.ServerStopping });
        Assert.Equal(0, server.Dtls[0].SessionCount);
        Assert.True(await client.WaitForServerCloseAsync());
    }

    private static byte[] BindingRequest() => [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, .. RandomNumberGenerator.GetBytes(12)];

    private static byte[] ChannelDataFrame(ushort channel, byte[] payload)
    {
        byte[] frame = new byte[ChannelData.HeaderLength + payload.Length];
        ChannelData.WriteHeader(frame, channel, payload.Length);
        payload.CopyTo(frame, ChannelData.HeaderLength);
        return frame;
    }

    /// <summary>A thread's id and its user plus system CPU time in clock ticks, from its /proc stat file.</summary>
    private static (int Thread, long Ticks) ThreadCpu(string statPath)
    {
        string stat = File.ReadAllText(statPath);
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // after "pid (comm) ": state is field 3
        return (int.Parse(stat[..stat.IndexOf(' ')], CultureInfo.InvariantCulture),
            long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)); // utime, stime: fields 14, 15
    }

    private static async Task<byte[]> ReceiveAsync(Socket socket)
    {
        byte[] buffer = new byte[65536];
        using var cts = new CancellationTokenSource(EventTimeout);
        int length = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return buffer[..length];
    }

    /// <summary>Reads datagrams until one whose first record holds a ServerHello, the start of the server's first flight.</summary>
    private static async Task ReceiveServerHelloAsync(Socket socket)
    {
        byte[] datagram;
        do
        {
            datagram = await ReceiveAsync(socket);
        }
        while (datagram[0] != 22 || datagram[13] != 2);
    }

    /// <summary>Every datagram already waiting on <paramref name="socket"/>, without waiting for more.</summary>
    private static List<byte[]> ReceiveQueued(Socket socket)
    {
        var datagrams = new List<byte[]>();
        byte[] buffer = new byte[65536];
        while (socket.Available > 0 && datagrams.Count < 1000)
        {
            datagrams.Add(buffer[..socket.Receive(buffer)]);
        }

        return datagrams;
    }
}
