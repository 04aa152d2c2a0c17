using System.Net;
using System.Net.Sockets;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Relay;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.Benchmarks.Infrastructure;

/// <summary>
/// The hot paths, each a warmed operation on a fixture with <see cref="AllocationCount"/> live allocations (each with a
/// permission and a channel). Shared by the BenchmarkDotNet classes (time and allocated bytes) and by the CI test that
/// holds every path to its budget in benchmarks/allocation-budget.txt.
/// </summary>
internal sealed class HotPaths
{
    public const int AllocationCount = 10_000;
    public const ushort Channel = 0x4000;

    private static readonly IPAddress ServerIp = IPAddress.Parse("192.0.2.1");
    private static readonly TransportAddress Server = new(ServerIp, 3478);
    private static readonly TransportAddress Peer = new(IPAddress.Parse("203.0.113.9"), 5000);
    private static readonly byte[] Key = MessageIntegrity.ComputeLongTermKey("alice", "example.org", "secret");

    private readonly TurnEngine _engine;
    private readonly Allocation[] _allocations = new Allocation[AllocationCount];
    private readonly FiveTuple[] _fiveTuples = new FiveTuple[AllocationCount];
    private readonly Allocation?[] _relaySlots = new Allocation?[AllocationCount];
    private readonly byte[][] _clientNames = new byte[AllocationCount][];
    private readonly byte[] _peerName = new byte[DatagramBatch.NameSize];
    private readonly byte[] _response = new byte[2048];
    private readonly SendScratch _scratch = new();
    private readonly ConnectionSource _connections;
    private int _next;

    public HotPaths(int payloadSize = 160)
    {
        Outbox = new DatagramBatch(32, 2048);
        _connections = new ConnectionSource(Outbox);
        var factory = new BatchRelayFactory(Outbox);
        _engine = new TurnEngine(
            new TurnOptions { Realm = "example.org", RequireAuthentication = false, PeerPolicy = new(allowLoopback: true, denyMulticast: true, allowed: [], denied: []) },
            factory,
            [],
            null,
            TimeProvider.System,
            1024,
            65535);
        for (int i = 0; i < AllocationCount; i++)
        {
            var client = new TransportAddress(IPAddress.Parse("198.51.100." + ((i % 250) + 1)), 10000 + (i / 250));
            _fiveTuples[i] = new FiveTuple(client, Server, TransportProtocol.Udp);
            Request(_fiveTuples[i], StunMethod.Allocate, static (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
            Request(_fiveTuples[i], StunMethod.ChannelBind, static (ref StunMessageWriter w) =>
            {
                w.WriteChannelNumber(Channel);
                w.WriteXorAddress(StunAttributeType.XorPeerAddress, Peer);
            });
            if (!_engine.Allocations.TryGet(_fiveTuples[i], out _allocations[i]) || _allocations[i].Channels.Count != 1)
            {
                throw new InvalidOperationException("fixture: allocation " + i + " was not made");
            }

            _relaySlots[i] = _allocations[i];
            _clientNames[i] = new byte[DatagramBatch.NameSize];
            SockAddr.Write(client, v6Socket: false, _clientNames[i]);
        }

        SockAddr.Write(Peer, v6Socket: false, _peerName);
        ChannelDataFrame = new byte[ChannelData.HeaderLength + payloadSize];
        ChannelData.WriteHeader(ChannelDataFrame, Channel, payloadSize);
        PeerBuffer = new byte[Allocation.PeerDataHeadroom + payloadSize + Allocation.PeerDataTailroom];
        PayloadSize = payloadSize;

        var writer = new StunMessageWriter(new byte[2048], StunMethod.Send, StunMessageClass.Indication, TransactionId.NewRandom());
        writer.WriteXorAddress(StunAttributeType.XorPeerAddress, Peer);
        writer.WriteAttribute(StunAttributeType.Data, new byte[payloadSize]);
        SendIndication = writer.Written.ToArray();

        BindingRequest = BuildBindingRequest(new byte[2048]).ToArray();
        AllocateSuccess = BuildAllocateSuccess(new byte[2048]).ToArray();
    }

    private delegate void Attributes(ref StunMessageWriter writer);

    /// <summary>Where relayed datagrams land, as they would before the Linux engine's sendmmsg.</summary>
    public DatagramBatch Outbox { get; }

    public int PayloadSize { get; }

    public byte[] ChannelDataFrame { get; }

    public byte[] SendIndication { get; }

    public byte[] PeerBuffer { get; }

    public byte[] BindingRequest { get; }

    public byte[] AllocateSuccess { get; }

    public byte[] Scratch { get; } = new byte[2048];

    /// <summary>Every hot path by name, as run by the benchmarks and the budget test.</summary>
    public IReadOnlyList<(string Name, Action Run)> All =>
    [
        ("stun-decode-binding-request", () => DecodeBindingRequest()),
        ("stun-encode-binding-request", () => EncodeBindingRequest()),
        ("stun-decode-allocate-success", () => DecodeAllocateSuccess()),
        ("stun-encode-allocate-success", () => EncodeAllocateSuccess()),
        ("message-integrity-verify", () => VerifyMessageIntegrity()),
        ("fingerprint-verify", () => VerifyFingerprint()),
        ("channel-data-client-to-peer", () => ChannelDataClientToPeer()),
        ("send-indication-client-to-peer", () => SendIndicationClientToPeer()),
        ("peer-to-client-channel-data", () => PeerToClient()),
        ("five-tuple-lookup", () => FiveTupleLookup()),
    ];

    public bool DecodeBindingRequest() => StunMessageReader.TryParse(BindingRequest, out _) == StunParseResult.Success;

    public int EncodeBindingRequest() => BuildBindingRequest(Scratch).Length;

    public bool DecodeAllocateSuccess() =>
        StunMessageReader.TryParse(AllocateSuccess, out StunMessageReader message) == StunParseResult.Success
        && message.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out _)
        && message.TryGetXorAddress(StunAttributeType.XorMappedAddress, out _)
        && message.TryGetUInt32(StunAttributeType.Lifetime, out _);

    public int EncodeAllocateSuccess() => BuildAllocateSuccess(Scratch).Length;

    public bool VerifyMessageIntegrity()
    {
        StunMessageReader.TryParse(AllocateSuccess, out StunMessageReader message);
        return message.VerifyMessageIntegrity(Key);
    }

    public bool VerifyFingerprint() => StunMessageReader.TryParse(AllocateSuccess, out StunMessageReader message) == StunParseResult.Success && message.HasFingerprint;

    /// <summary>
    /// ChannelData from datagram in to datagram out, as a Linux worker runs it minus the system calls: sender address
    /// from the kernel's sockaddr, classification, 5-tuple lookup among 10,000, channel and permission checks, and the
    /// payload queued for sendmmsg.
    /// </summary>
    public bool ChannelDataClientToPeer()
    {
        int i = NextIndex();
        SockAddr.TryRead(_clientNames[i], out TransportAddress client);
        var fiveTuple = new FiveTuple(client, Server, TransportProtocol.Udp);
        return PacketClassifier.Classify(ChannelDataFrame) == PacketKind.ChannelData && _engine.ProcessChannelData(ChannelDataFrame, fiveTuple);
    }

    /// <summary>A Send indication from datagram in to datagram out: STUN decode, lookup, permission check, payload queued.</summary>
    public int SendIndicationClientToPeer()
    {
        int i = NextIndex();
        SockAddr.TryRead(_clientNames[i], out TransportAddress client);
        var fiveTuple = new FiveTuple(client, Server, TransportProtocol.Udp);
        return _engine.ProcessStun(SendIndication, fiveTuple, _connections, _scratch, _response);
    }

    /// <summary>
    /// A peer datagram from relay socket to client frame: the relay's slot (what the Linux engine's epoll event
    /// carries) gives the allocation, the peer's sockaddr is read, the permission and channel are checked, the
    /// ChannelData header is written in front of the payload and the frame is queued for sendmmsg.
    /// </summary>
    public bool PeerToClient()
    {
        Allocation allocation = _relaySlots[NextIndex()]!;
        SockAddr.TryRead(_peerName, out TransportAddress peer);
        return allocation.ForwardToClient(PeerBuffer, Allocation.PeerDataHeadroom, PayloadSize, peer);
    }

    public bool FiveTupleLookup() => _engine.Allocations.TryGet(_fiveTuples[NextIndex()], out _);

    private int NextIndex()
    {
        int i = _next + 1;
        if (i == AllocationCount)
        {
            i = 0;
        }

        _next = i;
        return i;
    }

    private static ReadOnlySpan<byte> BuildBindingRequest(Span<byte> buffer)
    {
        var writer = new StunMessageWriter(buffer, StunMethod.Binding, StunMessageClass.Request, default);
        writer.WriteFingerprint();
        return writer.Written;
    }

    private static ReadOnlySpan<byte> BuildAllocateSuccess(Span<byte> buffer)
    {
        var writer = new StunMessageWriter(buffer, StunMethod.Allocate, StunMessageClass.SuccessResponse, default);
        writer.WriteXorAddress(StunAttributeType.XorRelayedAddress, new TransportAddress(ServerIp, 50000));
        writer.WriteUInt32(StunAttributeType.Lifetime, 600);
        writer.WriteXorAddress(StunAttributeType.XorMappedAddress, Peer);
        writer.WriteAttribute(StunAttributeType.Software, "TurnServer"u8);
        writer.WriteMessageIntegrity(Key);
        writer.WriteFingerprint();
        return writer.Written;
    }

    private void Request(in FiveTuple fiveTuple, StunMethod method, Attributes attributes)
    {
        var writer = new StunMessageWriter(new byte[512], method, StunMessageClass.Request, TransactionId.NewRandom());
        attributes(ref writer);
        _engine.ProcessStun(writer.Written, fiveTuple, _connections, _scratch, _response);
    }

    /// <summary>A relay whose sends are queued into a batch, as the Linux engine queues them (the batch is recycled when full).</summary>
    private sealed class BatchRelay(TransportAddress local, DatagramBatch outbox) : RelayEndpoint(local)
    {
        public override bool SendTo(ReadOnlySpan<byte> payload, SocketAddress peer)
        {
            if (outbox.Count == outbox.Capacity)
            {
                outbox.Count = 0;
            }

            return outbox.TryAdd(0, payload, peer.Buffer.Span[..peer.Size]);
        }

        public override void Start(Allocation allocation)
        {
        }

        public override void Dispose()
        {
        }
    }

    private sealed class BatchRelayFactory(DatagramBatch outbox) : IRelayEndpointFactory
    {
        public bool SupportsFamily(AddressFamily family, in TransportAddress serverAddress) => family == AddressFamily.InterNetwork;

        public RelayBindError TryBind(AddressFamily family, in TransportAddress serverAddress, int port, bool dontFragment, out RelayEndpoint? endpoint)
        {
            endpoint = new BatchRelay(new TransportAddress(ServerIp, port), outbox);
            return RelayBindError.None;
        }

        public RelayBindError TryBindTcp(AddressFamily family, in TransportAddress serverAddress, int port, out TcpRelayEndpoint? endpoint)
        {
            endpoint = null;
            return RelayBindError.FamilyNotSupported; // the hot paths are UDP relaying
        }
    }

    private sealed class ConnectionSource(DatagramBatch outbox) : IClientConnectionSource
    {
        public ClientConnection GetConnection(in FiveTuple fiveTuple) => new BatchClient(fiveTuple.ClientAddress, outbox);
    }

    /// <summary>A UDP client whose frames are queued into a batch with its sockaddr, as the Linux engine does.</summary>
    private sealed class BatchClient : ClientConnection
    {
        private readonly DatagramBatch _outbox;
        private readonly byte[] _name = new byte[DatagramBatch.NameSize];

        public BatchClient(in TransportAddress client, DatagramBatch outbox)
        {
            _outbox = outbox;
            SockAddr.Write(client, v6Socket: false, _name);
        }

        public override TransportProtocol Protocol => TransportProtocol.Udp;

        public override bool Send(ReadOnlySpan<byte> frame)
        {
            if (_outbox.Count == _outbox.Capacity)
            {
                _outbox.Count = 0;
            }

            return _outbox.TryAdd(0, frame, _name.AsSpan(0, 16));
        }
    }
}
