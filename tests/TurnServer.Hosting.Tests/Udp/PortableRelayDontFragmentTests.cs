using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using TurnServer.Core;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.Net;
using TurnServer.Hosting.Tests.Infrastructure;
using TurnServer.Hosting.Udp;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Stun;

namespace TurnServer.Hosting.Tests.Udp;

/// <summary>DONT-FRAGMENT on the portable engine's relay sockets (RFC 8656 section 18.9).</summary>
public sealed class PortableRelayDontFragmentTests
{
    [Fact]
    public void An_ipv6_relay_socket_gets_the_never_fragment_mode()
    {
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);

        UdpRelayEndpointFactory.SetDontFragment(socket);

        Span<byte> mode = stackalloc byte[sizeof(int)];
        Assert.Equal(sizeof(int), socket.GetRawSocketOption(Libc.IPPROTO_IPV6, Libc.IPV6_MTU_DISCOVER, mode));
        Assert.Equal(Libc.IP_PMTUDISC_DO, BitConverter.ToInt32(mode));
    }

    /// <summary>
    /// Regression: .NET's Socket.DontFragment throws on an IPv6 socket, and the exception left the Allocate with its
    /// port, quota and descriptor taken and no answer; five such Allocates under total-quota 5 locked everyone out.
    /// </summary>
    [Fact]
    public void Ipv6_allocates_with_dont_fragment_succeed_and_give_everything_back_on_refresh_zero()
    {
        var descriptors = new DescriptorBudget(1000, NullLogger.Instance);
        TurnEngine engine = TestEngines.Open(new TurnOptions { Realm = "example.org", RequireAuthentication = false, TotalQuota = 2 }, [IPAddress.Loopback, IPAddress.IPv6Loopback], descriptors, 50000, 50009);
        int free = engine.Ports.FreeCount;
        var server = new TransportAddress(IPAddress.IPv6Loopback, 3478);

        for (int i = 0; i < 4; i++)
        {
            var fiveTuple = new FiveTuple(new TransportAddress(IPAddress.IPv6Loopback, 40000 + i), server, TransportProtocol.Udp);
            StunMessageReader allocated = EngineRequests.Exchange(engine, fiveTuple, StunMethod.Allocate, (ref StunMessageWriter w) =>
            {
                w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
                w.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, StunAddressCodec.FamilyIPv6);
                w.WriteAttribute(StunAttributeType.DontFragment, []);
            });
            Assert.Equal(StunMessageClass.SuccessResponse, allocated.Class);
            Assert.True(allocated.TryGetXorAddress(StunAttributeType.XorRelayedAddress, out TransportAddress relayed));
            Assert.True(relayed.IsIPv6);
            Assert.Equal(1, descriptors.InUse);

            StunMessageReader refreshed = EngineRequests.Exchange(engine, fiveTuple, StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0));
            Assert.Equal(StunMessageClass.SuccessResponse, refreshed.Class);
        }

        Assert.Equal(0, engine.Allocations.Count);
        Assert.Equal(0, descriptors.InUse);
        Assert.Equal(free, engine.Ports.FreeCount);
    }
}
