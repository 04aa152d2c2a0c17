using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Logging;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Hosting.Udp;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Logging;

public sealed class SessionLogTests
{
    /// <summary>
    /// Regression: the line at a session's end was <c>closed, user &lt;u&gt; realm &lt;r&gt;, UDP a -> b, lifetime=Ns,
    /// reason: Expired</c>, which parsers written for coTURN's <c>closed (2nd stage)</c> line did not match. Now it is
    /// coTURN's line, fields and reason words included, with the lifetime and transport after it.
    /// </summary>
    [Theory]
    [InlineData(AllocationEndReason.Expired, TransportProtocol.Udp, "allocation timeout, lifetime=0s, type=UDP")]
    [InlineData(AllocationEndReason.Deleted, TransportProtocol.Udp, "allocation timeout, lifetime=0s, type=UDP")]
    [InlineData(AllocationEndReason.ConnectionClosed, TransportProtocol.Tcp, "TCP connection closed by client (callback), lifetime=0s, type=TCP")]
    [InlineData(AllocationEndReason.ConnectionClosed, TransportProtocol.Tls, "TLS/TCP connection closed by client (callback), lifetime=0s, type=TLS/TCP")]
    [InlineData(AllocationEndReason.ConnectionClosed, TransportProtocol.Dtls, "DTLS connection closed by client (callback), lifetime=0s, type=DTLS")]
    [InlineData(AllocationEndReason.Cancelled, TransportProtocol.Udp, "Forceful shutdown, lifetime=0s, type=UDP")]
    [InlineData(AllocationEndReason.Shutdown, TransportProtocol.Udp, "server shutdown, lifetime=0s, type=UDP")]
    public void The_closing_line_is_coturns_with_its_reason_words(AllocationEndReason reason, TransportProtocol protocol, string ending)
    {
        var logger = new LineLogger();
        var clock = new ManualClock();
        TurnEngine engine = new(
            new TurnOptions { Realm = "example.org", RequireAuthentication = false, CheckOriginConsistency = true },
            new UdpRelayEndpointFactory([], [IPAddress.Loopback], new ServerCounters(), NullLogger.Instance, new DescriptorBudget(long.MaxValue, NullLogger.Instance)),
            [],
            new SessionLog(logger, "example.org"),
            clock,
            50300,
            50309);
        var fiveTuple = new FiveTuple(new TransportAddress(IPAddress.Parse("192.0.2.7"), 50000), new TransportAddress(IPAddress.Loopback, 3478), protocol);
        StunMessageReader answer = EngineRequests.Exchange(engine, fiveTuple, StunMethod.Allocate, (ref StunMessageWriter w) =>
        {
            w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
            w.WriteText(StunAttributeType.Origin, "https://Example.com");
        });
        Assert.Equal(0, EngineRequests.Code(answer));
        Assert.True(engine.Allocations.TryGet(fiveTuple, out Allocation allocation));

        Assert.True(engine.Allocations.Remove(allocation, reason));

        Assert.Equal(
            "Information: session 000000000000000001: closed (2nd stage), user <> realm <example.org> origin <https://example.com:443>, local 127.0.0.1:3478, remote 192.0.2.7:50000, reason: " + ending,
            logger.Lines[^1]);
        Assert.StartsWith("Information: session 000000000000000001: peer usage: realm=<example.org>, username=<>, rp=0", logger.Lines[^2], StringComparison.Ordinal);
    }
}
