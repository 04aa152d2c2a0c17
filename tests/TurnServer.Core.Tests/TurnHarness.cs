using System.Net;
using System.Text;
using TurnServer.Core.Allocations;
using TurnServer.Core.Auth;
using TurnServer.Core.Relay;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>A response as the client sees it: its bytes, parsed on demand.</summary>
internal sealed class Response(byte[] bytes)
{
    public byte[] Bytes { get; } = bytes;

    public StunMessageReader Message
    {
        get
        {
            Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(Bytes, out StunMessageReader message));
            return message;
        }
    }

    public int ErrorCode => Message.TryGetErrorCode(out int code, out _) ? code : 0;

    public bool IsSuccess => Message.Class == StunMessageClass.SuccessResponse;

    public string Text(StunAttributeType type) => Message.TryGetAttribute(type, out ReadOnlySpan<byte> value) ? Encoding.UTF8.GetString(value) : "";

    public TransportAddress XorAddress(StunAttributeType type) =>
        Message.TryGetXorAddress(type, out TransportAddress address) ? address : throw new Xunit.Sdk.XunitException($"no {type}");
}

/// <summary>An engine plus one simulated client on one 5-tuple, speaking the long-term credential mechanism.</summary>
internal sealed class TurnHarness
{
    public const string Realm = "example.org";
    public static readonly TransportAddress ServerAddress = new(IPAddress.Parse("192.0.2.1"), 3478);

    public TurnHarness(
        TurnOptions? options = null,
        int minPort = 49152,
        int maxPort = 65535,
        Action<StaticUserCredentials>? users = null,
        IReadOnlyList<ICredentialSource>? sources = null)
    {
        var staticUsers = new StaticUserCredentials(Realm);
        staticUsers.AddPassword("alice", "secret");
        staticUsers.AddPassword("bob", "builder");
        users?.Invoke(staticUsers);
        Options = options ?? new TurnOptions { Realm = Realm };
        Engine = new TurnEngine(Options, Relays, sources ?? [staticUsers], Observer, Time, minPort, maxPort);
        Client = NewClient("198.51.100.7", 40000);
    }

    public TurnOptions Options { get; }

    public ManualTimeProvider Time { get; } = new();

    public FakeRelayFactory Relays { get; } = new();

    public RecordingObserver Observer { get; } = new();

    public TurnEngine Engine { get; }

    public SimulatedClient Client { get; }

    public SimulatedClient NewClient(string ip, int port, string user = "alice", string password = "secret", TransportProtocol protocol = TransportProtocol.Udp) =>
        new(this, new FiveTuple(new TransportAddress(IPAddress.Parse(ip), port), ServerAddress, protocol), user, password);

    internal sealed class SimulatedClient(TurnHarness harness, FiveTuple fiveTuple, string user, string password)
    {
        private readonly SendScratch _scratch = new();

        public FiveTuple FiveTuple { get; } = fiveTuple;

        public RecordingClient Connection { get; } = new(fiveTuple.Protocol);

        public string User { get; set; } = user;

        public string Password { get; set; } = password;

        public string Realm { get; set; } = TurnHarness.Realm;

        public string? Nonce { get; set; }

        public byte[] Key => MessageIntegrity.ComputeLongTermKey(User, Realm, Password);

        /// <summary>Sends a request built by <paramref name="attributes"/>; signs it once a nonce is known, retrying once after 401/438 as a real client does.</summary>
        public Response Request(StunMethod method, Action<StunMessageWriterBox>? attributes = null, TransactionId? transactionId = null, bool sign = true)
        {
            Response response = Send(method, attributes, transactionId ?? TransactionId.NewRandom(), sign && Nonce is not null);
            if (sign && response.ErrorCode is StunErrorCodes.Unauthenticated or StunErrorCodes.StaleNonce && response.Text(StunAttributeType.Nonce).Length > 0)
            {
                bool hadNonce = Nonce is not null;
                Nonce = response.Text(StunAttributeType.Nonce);
                if (!hadNonce || response.ErrorCode == StunErrorCodes.StaleNonce)
                {
                    response = Send(method, attributes, TransactionId.NewRandom(), true);
                }
            }

            return response;
        }

        public Response Send(StunMethod method, Action<StunMessageWriterBox>? attributes, TransactionId transactionId, bool sign)
        {
            byte[] request = Build(method, StunMessageClass.Request, attributes, transactionId, sign);
            return Raw(request)!;
        }

        public byte[] Build(StunMethod method, StunMessageClass messageClass, Action<StunMessageWriterBox>? attributes, TransactionId transactionId, bool sign)
        {
            var box = new StunMessageWriterBox();
            attributes?.Invoke(box);
            var buffer = new byte[2048];
            var writer = new StunMessageWriter(buffer, method, messageClass, transactionId);
            box.Apply(ref writer);

            if (sign)
            {
                writer.WriteText(StunAttributeType.Username, User);
                writer.WriteText(StunAttributeType.Realm, Realm);
                writer.WriteText(StunAttributeType.Nonce, Nonce!);
                writer.WriteMessageIntegrity(Key);
            }

            return writer.Written.ToArray();
        }

        public Response? Raw(byte[] packet)
        {
            var response = new byte[1500];
            int length = harness.Engine.ProcessStun(packet, FiveTuple, Connection, _scratch, response);
            return length == 0 ? null : new Response(response[..length]);
        }

        public void Indication(StunMethod method, Action<StunMessageWriterBox> attributes) =>
            Assert.Null(Raw(Build(method, StunMessageClass.Indication, attributes, TransactionId.NewRandom(), sign: false)));

        public bool ChannelData(ushort channel, byte[] payload)
        {
            var packet = new byte[4 + payload.Length];
            Stun.ChannelData.WriteHeader(packet, channel, payload.Length);
            payload.CopyTo(packet, 4);
            return harness.Engine.ProcessChannelData(packet, FiveTuple);
        }

        public Response Allocate(Action<StunMessageWriterBox>? extra = null) => Request(StunMethod.Allocate, w =>
        {
            w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
            extra?.Invoke(w);
        });

        public Response CreatePermission(params string[] peers) => Request(StunMethod.CreatePermission, w =>
        {
            foreach (string peer in peers)
            {
                TransportAddress address = TransportAddress.FromEndPoint(IPEndPoint.Parse(peer));
                w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, address));
            }
        });

        public Response ChannelBind(ushort channel, string peer)
        {
            TransportAddress address = TransportAddress.FromEndPoint(IPEndPoint.Parse(peer));
            return Request(StunMethod.ChannelBind, w =>
            {
                w.Add((ref StunMessageWriter x) => x.WriteChannelNumber(channel));
                w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, address));
            });
        }

        public Response Refresh(uint? lifetime) => Request(StunMethod.Refresh, w =>
        {
            if (lifetime is uint value)
            {
                w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, value));
            }
        });
    }
}

/// <summary>Collects writer steps so tests can describe attributes as lambdas (a ref struct cannot be captured).</summary>
internal sealed class StunMessageWriterBox
{
    public delegate void Step(ref StunMessageWriter writer);

    private readonly List<Step> _steps = [];

    public void Add(Step step) => _steps.Add(step);

    public void Apply(ref StunMessageWriter writer)
    {
        foreach (Step step in _steps)
        {
            step(ref writer);
        }
    }
}
