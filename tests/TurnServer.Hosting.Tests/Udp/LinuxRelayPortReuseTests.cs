using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Hosting.Udp;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Udp;

/// <summary>
/// Regression: with the Linux engine an allocation deleted off its relay's worker thread (a TCP client's Refresh(0),
/// the sweeper) returned its port to the pool before the worker had closed the socket; an Allocate that drew the port
/// in that gap met EADDRINUSE and quarantined the server's own port for a minute as if another program held it.
/// </summary>
public sealed class LinuxRelayPortReuseTests
{
    [Fact]
    public void A_port_whose_relay_socket_is_still_closing_is_not_quarantined()
    {
        using var linux = new LinuxUdpEngine(new ServerCounters(), NullLogger.Instance, workerCount: 1);
        linux.Start();
        var descriptors = new DescriptorBudget(1000, NullLogger.Instance);
        TurnEngine engine = TestEngines.Open(new TurnOptions { Realm = "example.org", RequireAuthentication = false }, [IPAddress.Loopback], descriptors, 50100, 50107, linux);

        // Each round frees a port and at once draws another of the eight: now and then the one whose socket the worker
        // has not closed yet. Between rounds the closes are awaited, so no round finds the pool short of ports.
        for (int i = 0; i < 400; i++)
        {
            var first = Client(20000 + (2 * i));
            var second = Client(20001 + (2 * i));
            TransportAddress firstRelay = Allocate(engine, first);
            Assert.Equal(0, Refresh(engine, first, lifetime: 0));
            TransportAddress secondRelay = Allocate(engine, second);
            Assert.Equal(0, Refresh(engine, second, lifetime: 0));
            Assert.True(
                SpinWait.SpinUntil(() => !linux.IsClosing(firstRelay) && !linux.IsClosing(secondRelay), TimeSpan.FromSeconds(10)),
                "the worker did not close the relay sockets");
        }

        Assert.Equal(0, engine.Ports.QuarantinedCount);
        Assert.Equal(8, engine.Ports.FreeCount);
    }

    private static FiveTuple Client(int port) =>
        new(new TransportAddress(IPAddress.Loopback, port), new TransportAddress(IPAddress.Loopback, 3478), TransportProtocol.Tcp);

    private static TransportAddress Allocate(TurnEngine engine, in FiveTuple fiveTuple)
    {
        StunMessageReader answer = EngineRequests.Exchange(engine, fiveTuple, StunMethod.Allocate, (ref StunMessageWriter w) => w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17));
        Assert.Equal(0, EngineRequests.Code(answer));
        Assert.True(answer.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out TransportAddress relayed));
        return relayed;
    }

    private static int Refresh(TurnEngine engine, in FiveTuple fiveTuple, uint lifetime) =>
        EngineRequests.Code(EngineRequests.Exchange(engine, fiveTuple, StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, lifetime)));
}
