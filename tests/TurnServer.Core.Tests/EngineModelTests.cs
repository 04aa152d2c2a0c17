using System.Net;
using System.Text;
using TurnServer.Core.Allocations;
using TurnServer.Stun;

namespace TurnServer.Core.Tests;

/// <summary>
/// Random sequences of what clients can send (every request with random options, replays, mutations, wrong
/// passwords, ChannelData, indications) interleaved with time passing, against one engine with a small port pool.
/// After every step: nothing threw, every answer is a well-formed response to its request, every relay port is
/// accounted for (free, quarantined, reserved, or held by a live allocation's relay), and the bandwidth granted out
/// of bps-capacity is what the live allocations hold, and every live allocation is found under its 5-tuple and its
/// mobility ticket (RFC 8016 moves between the clients of one transport, and TCP connections closing). At the end, once every lifetime has run out: no allocation,
/// no open relay, the whole pool free and no bandwidth granted. The seed of a failing sequence
/// and its steps are in the failure message, so it can be replayed.
/// </summary>
public sealed class EngineModelTests
{
    private const int Sequences = 500;
    private const int StepsPerSequence = 80;
    private const int MinPort = 49152;
    private const int MaxPort = 49159;

    private static readonly string[] Peers = ["203.0.113.5:9000", "203.0.113.6:9001", "[2001:db8::5]:9000", "127.0.0.1:9", "224.0.0.1:5", "0.0.0.0:1"];
    private static readonly ushort[] Channels = [0x3FFF, 0x4000, 0x4001, 0x4FFF, 0x7FFF, 0x8000];
    private static readonly uint[] Lifetimes = [0, 1, 30, 600, 3600, uint.MaxValue];
    private static readonly TimeSpan[] Waits = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(29), TimeSpan.FromSeconds(31), TimeSpan.FromSeconds(61), TimeSpan.FromSeconds(301), TimeSpan.FromSeconds(601)];

    [Fact]
    public void Random_client_behaviour_never_throws_never_answers_malformed_and_never_leaks_a_port()
    {
        int moves = 0;
        for (int seed = 1; seed <= Sequences; seed++)
        {
            var run = new ModelRun(seed);
            try
            {
                run.Execute(StepsPerSequence);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"seed {seed}, after: {string.Join(", ", run.Steps)}\n{e}");
            }

            moves += run.Moves;
        }

        // The sequences must reach the mobility paths they are meant to check.
        Assert.True(moves > 0, "no sequence moved an allocation");
    }

    private sealed class ModelRun
    {
        private readonly Random _random;
        // max-bps 1000 out of 3000: three allocations get it all, a fourth gets 486, and the relay path drops over it.
        private readonly TurnHarness _harness = new(new TurnOptions { Realm = TurnHarness.Realm, MaxBps = 1000, BpsCapacity = 3000, Mobility = true }, MinPort, MaxPort);
        private readonly TurnHarness.SimulatedClient[] _clients;
        private readonly Dictionary<TurnHarness.SimulatedClient, byte[]> _lastRequest = [];
        private readonly List<string> _tickets = [];
        private ulong _lastToken;

        public ModelRun(int seed)
        {
            _random = new Random(seed);
            _clients =
            [
                _harness.Client,
                _harness.NewClient("198.51.100.8", 40001, "bob", "builder"),
                _harness.NewClient("198.51.100.9", 40002, protocol: TransportProtocol.Tcp),
                _harness.NewClient("198.51.100.7", 40003),
                _harness.NewClient("198.51.100.9", 40004, protocol: TransportProtocol.Tcp),
            ];
        }

        public List<string> Steps { get; } = [];

        public int Moves => _harness.Observer.Moved.Count;

        public void Execute(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                TurnHarness.SimulatedClient client = _clients[_random.Next(_clients.Length)];
                int what = _random.Next(100);
                if (what < 22)
                {
                    Allocate(client);
                }
                else if (what < 34)
                {
                    Refresh(client);
                }
                else if (what < 44)
                {
                    CreatePermission(client);
                }
                else if (what < 54)
                {
                    ChannelBind(client);
                }
                else if (what < 60)
                {
                    Connect(client);
                }
                else if (what < 66)
                {
                    SendIndication(client);
                }
                else if (what < 72)
                {
                    ChannelData(client);
                }
                else if (what < 78)
                {
                    Replay(client);
                }
                else if (what < 86)
                {
                    Mutate(client);
                }
                else if (what < 90)
                {
                    WrongPassword(client);
                }
                else if (what < 92 && client.FiveTuple.IsStream)
                {
                    Steps.Add(Who(client) + " connection closed");
                    _harness.Engine.Allocations.ConnectionClosed(client.FiveTuple, client.Connection);
                }
                else
                {
                    TimeSpan wait = Waits[_random.Next(Waits.Length)];
                    Steps.Add("wait " + wait.TotalSeconds);
                    _harness.Time.Advance(wait);
                    _harness.Engine.Sweep();
                }

                CheckPortsAccountedFor();
            }

            // Every lifetime, reservation and quarantine runs out: nothing may be left behind.
            foreach ((_, var result) in _harness.Relays.BoundTcp.SelectMany(r => r.Connects))
            {
                result.TrySetResult(null);
            }

            _harness.Time.Advance(TimeSpan.FromHours(2));
            _harness.Engine.Sweep();
            Assert.Equal(0, _harness.Engine.Allocations.Count);
            Assert.Equal(0, _harness.Engine.Reservations.Count);
            Assert.All(_harness.Relays.Bound, relay => Assert.True(relay.Disposed));
            Assert.All(_harness.Relays.BoundTcp, relay => Assert.True(relay.Disposed));
            Assert.Equal(_harness.Engine.Ports.Capacity, _harness.Engine.Ports.FreeCount);
            Assert.Equal(0, _harness.Engine.Allocations.BpsGranted);
            Assert.Equal(_harness.Observer.Created.Count, _harness.Observer.Ended.Count);
        }

        private void Allocate(TurnHarness.SimulatedClient client)
        {
            var options = new List<string>();
            Response? response = Exchange(client, StunMethod.Allocate, w =>
            {
                int transport = _random.Next(20);
                if (transport > 0)
                {
                    byte protocol = transport < 15 ? (byte)17 : transport < 19 ? (byte)6 : (byte)99;
                    options.Add("transport " + protocol);
                    w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedTransport, protocol));
                }

                if (_random.Next(5) == 0)
                {
                    bool reserve = _random.Next(2) == 0;
                    options.Add(reserve ? "even-port R" : "even-port");
                    w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.EvenPort, reserve ? (byte)0x80 : (byte)0));
                }

                if (_random.Next(6) == 0)
                {
                    ulong token = _random.Next(3) == 0 ? (ulong)_random.NextInt64() : _lastToken;
                    options.Add("token");
                    w.Add((ref StunMessageWriter x) => x.WriteUInt64(StunAttributeType.ReservationToken, token));
                }

                if (_random.Next(5) == 0)
                {
                    byte family = (byte)_random.Next(1, 4);
                    options.Add("family " + family);
                    w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, family));
                }

                if (_random.Next(6) == 0)
                {
                    byte family = (byte)_random.Next(1, 3);
                    options.Add("additional " + family);
                    w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.AdditionalAddressFamily, family));
                }

                if (_random.Next(3) == 0)
                {
                    uint lifetime = Lifetimes[_random.Next(Lifetimes.Length)];
                    options.Add("lifetime " + lifetime);
                    w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, lifetime));
                }

                if (_random.Next(10) == 0)
                {
                    options.Add("dont-fragment");
                    w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.DontFragment, []));
                }

                if (_random.Next(3) == 0)
                {
                    options.Add("mobility");
                    w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.MobilityTicket, []));
                }
            }, "allocate", options);
            KeepTicket(response);

            if (response is { IsSuccess: true } && response.Message.TryGetAttribute(StunAttributeType.ReservationToken, out ReadOnlySpan<byte> token))
            {
                _lastToken = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(token);
            }
        }

        private void Refresh(TurnHarness.SimulatedClient client)
        {
            var options = new List<string>();
            Response? response = Exchange(client, StunMethod.Refresh, w =>
            {
                if (_random.Next(4) > 0)
                {
                    uint lifetime = Lifetimes[_random.Next(Lifetimes.Length)];
                    options.Add("lifetime " + lifetime);
                    w.Add((ref StunMessageWriter x) => x.WriteUInt32(StunAttributeType.Lifetime, lifetime));
                }

                if (_random.Next(6) == 0)
                {
                    byte family = (byte)_random.Next(1, 3);
                    options.Add("family " + family);
                    w.Add((ref StunMessageWriter x) => x.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, family));
                }

                if (_random.Next(3) == 0)
                {
                    // A ticket seen in some answer (current or stale), or one never issued.
                    string ticket = _tickets.Count > 0 && _random.Next(4) > 0 ? _tickets[_random.Next(_tickets.Count)] : "never-issued-" + _random.Next(3);
                    options.Add("ticket " + ticket);
                    w.Add((ref StunMessageWriter x) => x.WriteText(StunAttributeType.MobilityTicket, ticket));
                }
            }, "refresh", options);
            KeepTicket(response);
        }

        private void KeepTicket(Response? response)
        {
            if (response is { IsSuccess: true } && response.Text(StunAttributeType.MobilityTicket) is { Length: > 0 } ticket)
            {
                _tickets.Add(ticket);
            }
        }

        private void CreatePermission(TurnHarness.SimulatedClient client)
        {
            string[] peers = [.. Enumerable.Range(0, _random.Next(0, 3)).Select(_ => Peers[_random.Next(Peers.Length)])];
            Exchange(client, StunMethod.CreatePermission, w =>
            {
                foreach (string peer in peers)
                {
                    TransportAddress address = TransportAddress.FromEndPoint(IPEndPoint.Parse(peer));
                    w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, address));
                }
            }, "permission", peers);
        }

        private void ChannelBind(TurnHarness.SimulatedClient client)
        {
            ushort channel = Channels[_random.Next(Channels.Length)];
            string peer = Peers[_random.Next(Peers.Length)];
            TransportAddress address = TransportAddress.FromEndPoint(IPEndPoint.Parse(peer));
            Exchange(client, StunMethod.ChannelBind, w =>
            {
                w.Add((ref StunMessageWriter x) => x.WriteChannelNumber(channel));
                w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, address));
            }, "channel-bind", [channel.ToString("X4", System.Globalization.CultureInfo.InvariantCulture), peer]);
        }

        private void Connect(TurnHarness.SimulatedClient client)
        {
            string peer = Peers[_random.Next(Peers.Length)];
            TransportAddress address = TransportAddress.FromEndPoint(IPEndPoint.Parse(peer));
            Exchange(client, StunMethod.Connect, w => w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, address)), "connect", [peer]);
        }

        private void SendIndication(TurnHarness.SimulatedClient client)
        {
            string peer = Peers[_random.Next(Peers.Length)];
            Steps.Add(Who(client) + " send " + peer);
            TransportAddress address = TransportAddress.FromEndPoint(IPEndPoint.Parse(peer));
            byte[] data = new byte[_random.Next(0, 200)];
            client.Indication(StunMethod.Send, w =>
            {
                w.Add((ref StunMessageWriter x) => x.WriteXorAddress(StunAttributeType.XorPeerAddress, address));
                w.Add((ref StunMessageWriter x) => x.WriteAttribute(StunAttributeType.Data, data));
            });
        }

        private void ChannelData(TurnHarness.SimulatedClient client)
        {
            ushort channel = Channels[_random.Next(Channels.Length)];
            Steps.Add(Who(client) + " channel-data " + channel.ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            client.ChannelData(channel, new byte[_random.Next(0, 200)]);
        }

        private void Replay(TurnHarness.SimulatedClient client)
        {
            if (!_lastRequest.TryGetValue(client, out byte[]? request))
            {
                return;
            }

            Steps.Add(Who(client) + " replay");
            CheckAnswer(request, client.Raw(request), mutated: false);
        }

        private void Mutate(TurnHarness.SimulatedClient client)
        {
            if (!_lastRequest.TryGetValue(client, out byte[]? request))
            {
                return;
            }

            byte[] mutated = (byte[])request.Clone();
            int index = _random.Next(mutated.Length);
            mutated[index] = (byte)_random.Next(256);
            int length = _random.Next(3) == 0 ? _random.Next(mutated.Length + 1) : mutated.Length;
            Steps.Add(Who(client) + " mutated byte " + index + " cut to " + length);
            CheckAnswer(mutated[..length], client.Raw(mutated[..length]), mutated: true);
        }

        private void WrongPassword(TurnHarness.SimulatedClient client)
        {
            if (client.Nonce is null)
            {
                return;
            }

            Steps.Add(Who(client) + " wrong password");
            string password = client.Password;
            client.Password = "not-" + password;
            try
            {
                byte[] request = client.Build(StunMethod.Refresh, StunMessageClass.Request, null, TransactionId.NewRandom(), sign: true);
                Response? response = client.Raw(request);
                CheckAnswer(request, response, mutated: false);
                Assert.Contains(response!.ErrorCode, new[] { StunErrorCodes.Unauthenticated, StunErrorCodes.StaleNonce }); // 438 once the nonce expired
            }
            finally
            {
                client.Password = password;
            }
        }

        /// <summary>Sends a signed request (after the first 401 gave a nonce), retrying once after 401 or 438 as a client does.</summary>
        private Response? Exchange(TurnHarness.SimulatedClient client, StunMethod method, Action<StunMessageWriterBox> attributes, string name, IEnumerable<string> options)
        {
            var box = new StunMessageWriterBox();
            attributes(box);
            Steps.Add(Who(client) + " " + name + (options.Any() ? " (" + string.Join(" ", options) + ")" : ""));
            Response? response = null;
            for (int attempt = 0; attempt < 2; attempt++)
            {
                byte[] request = client.Build(method, StunMessageClass.Request, w => w.Add(box.Apply), TransactionId.NewRandom(), sign: client.Nonce is not null);
                _lastRequest[client] = request;
                response = client.Raw(request);
                CheckAnswer(request, response, mutated: false);
                if (response is null || response.ErrorCode is not (StunErrorCodes.Unauthenticated or StunErrorCodes.StaleNonce))
                {
                    break;
                }

                client.Nonce = response.Text(StunAttributeType.Nonce);
            }

            return response;
        }

        /// <summary>
        /// An answer is a response of the request's method and transaction, success or error, that parses; only
        /// Connect is answered later (by the connection attempt's outcome), and a mutated request may go unanswered.
        /// </summary>
        private static void CheckAnswer(byte[] request, Response? response, bool mutated)
        {
            if (response is null)
            {
                bool parsed = StunMessageReader.TryParse(request, out StunMessageReader sent) == StunParseResult.Success;
                Assert.True(mutated || (parsed && sent.Method == StunMethod.Connect), "a well-formed request went unanswered");
                return;
            }

            Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(request, out StunMessageReader asked));
            StunMessageReader answer = response.Message;
            Assert.Equal(asked.TransactionId, answer.TransactionId);
            Assert.Equal(asked.Method, answer.Method);
            Assert.True(answer.Class is StunMessageClass.SuccessResponse or StunMessageClass.ErrorResponse);
            if (answer.Class == StunMessageClass.ErrorResponse)
            {
                Assert.True(answer.TryGetErrorCode(out int code, out _));
                Assert.InRange(code, 300, 699);
            }
        }

        /// <summary>Every port of the pool is free, quarantined, reserved, or held by a relay no one has closed.</summary>
        private void CheckPortsAccountedFor()
        {
            int open = _harness.Relays.Bound.Count(r => !r.Disposed) + _harness.Relays.BoundTcp.Count(r => !r.Disposed);
            int live = _harness.Engine.Allocations.All.Sum(a => (a.RelayV4 is null ? 0 : 1) + (a.RelayV6 is null ? 0 : 1));
            Assert.Equal(live, open);
            Assert.Equal(
                _harness.Engine.Ports.Capacity,
                _harness.Engine.Ports.FreeCount + _harness.Engine.Ports.QuarantinedCount + _harness.Engine.Reservations.Count + open);
            Assert.Equal(_harness.Engine.Allocations.All.Sum(a => a.BandwidthLimit), _harness.Engine.Allocations.BpsGranted);
            foreach (Allocation allocation in _harness.Engine.Allocations.All)
            {
                Assert.True(_harness.Engine.Allocations.TryGet(allocation.FiveTuple, out Allocation keyed) && keyed == allocation, "not under its 5-tuple");
                if (allocation.MobilityTicket is { } ticket)
                {
                    Assert.True(_harness.Engine.Allocations.TryGetByMobilityTicket(ticket, out Allocation found) && found == allocation, "not under its ticket");
                }
            }
        }

        private static string Who(TurnHarness.SimulatedClient client) =>
            client.FiveTuple.Protocol + " " + client.FiveTuple.ClientAddress.Port;
    }
}
