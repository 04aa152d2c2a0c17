using System.Net;
using System.Net.Sockets;
using TurnServer.Core.Allocations;
using TurnServer.Core.Diagnostics;
using TurnServer.Hosting.Udp.Linux;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>
/// A dual allocation on real sockets (RFC 8656 sections 7.1 and 8.1): relays on 127.0.0.1 and ::1 both carry data,
/// and a Refresh that deletes the IPv6 family closes that relay's socket while the IPv4 relay carries on.
/// </summary>
public sealed class DualAllocationTests
{
    [Fact]
    public async Task Both_relays_carry_data_and_deleting_one_family_closes_only_its_socket()
    {
        await using TestServer server = await TestServer.StartAsync("--listening-ip=::1");
        using var peer4 = new UdpEchoPeer();
        using var peer6 = new UdpEchoPeer(IPAddress.IPv6Loopback);
        using var client = new StunUdpClient(server.UdpEndPoints.Single(e => e.AddressFamily == AddressFamily.InterNetwork));

        byte[] allocated = await client.RequestAsync(StunMethod.Allocate, (ref StunMessageWriter w) =>
        {
            w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
            w.WriteLeadingByte(StunAttributeType.AdditionalAddressFamily, StunAddressCodec.FamilyIPv6);
        });
        Assert.Equal(0, StunTestClient.Code(allocated));
        TransportAddress[] relayed = RelayedAddresses(allocated);
        Assert.Equal(2, relayed.Length);
        Assert.Equal(IPAddress.Loopback, relayed[0].ToIPAddress());
        Assert.Equal(IPAddress.IPv6Loopback, relayed[1].ToIPAddress());

        await client.BindChannelAsync(0x4000, TransportAddress.FromEndPoint(peer4.EndPoint));
        await client.BindChannelAsync(0x4001, TransportAddress.FromEndPoint(peer6.EndPoint));
        byte[] to4 = Frame(0x4000, 4);
        byte[] to6 = Frame(0x4001, 6);
        client.SendRaw(to4);
        Assert.Equal(to4, await client.ReceiveAsync()); // echoed back through the IPv4 relay
        client.SendRaw(to6);
        Assert.Equal(to6, await client.ReceiveAsync()); // and through the IPv6 one
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, relayed[1].Port), Assert.Single(peer6.Received).From);

        byte[] deleted = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) =>
        {
            w.WriteLeadingByte(StunAttributeType.RequestedAddressFamily, StunAddressCodec.FamilyIPv6);
            w.WriteUInt32(StunAttributeType.Lifetime, 0);
        });
        Assert.Equal(0, StunTestClient.Code(deleted));

        // The IPv6 relay's socket is closed (by its worker thread, moments after the answer): its port can be bound
        // again. The allocation and its IPv4 relay remain.
        await Poll.UntilAsync(() => CanBind(new IPEndPoint(IPAddress.IPv6Loopback, relayed[1].Port)), TimeSpan.FromSeconds(10), "the IPv6 relay's port free");
        Assert.Equal(1, server.Engine.Allocations.Count);
        long dropped = server.Engine.Counters.GetDropped(DropReason.ChannelNotBound);
        client.SendRaw(to6);
        client.SendRaw(to4);
        Assert.Equal(to4, await client.ReceiveAsync()); // handled after the IPv6 frame, which was dropped
        Assert.Equal(dropped + 1, server.Engine.Counters.GetDropped(DropReason.ChannelNotBound));
        Assert.Single(peer6.Received);
    }

    /// <summary>
    /// Made over TCP (no worker thread handles the Allocate), a dual allocation's two relays still share one Linux UDP
    /// worker: its traffic counters and bandwidth window have one writer each way.
    /// </summary>
    [LinuxEngineFact]
    public async Task A_dual_allocations_relays_share_one_worker()
    {
        await using TestServer server = await TestServer.StartAsync(["--listening-ip=::1", "--relay-threads=4"], null, linuxUdp: true);
        for (int i = 0; i < 4; i++)
        {
            using StunStreamClient client = await StunStreamClient.ConnectAsync(server.TcpEndPoints.Single(e => e.AddressFamily == AddressFamily.InterNetwork));
            await client.AllocateAsync((ref StunMessageWriter w) =>
            {
                w.WriteLeadingByte(StunAttributeType.RequestedTransport, 17);
                w.WriteLeadingByte(StunAttributeType.AdditionalAddressFamily, StunAddressCodec.FamilyIPv6);
            });
            Allocation allocation = Assert.Single(server.Engine.Allocations.All);
            Assert.True(allocation.IsDual);
            Assert.Same(((LinuxRelayEndpoint)allocation.RelayV4!).Owner, ((LinuxRelayEndpoint)allocation.RelayV6!).Owner);
            byte[] deleted = await client.RequestAsync(StunMethod.Refresh, (ref StunMessageWriter w) => w.WriteUInt32(StunAttributeType.Lifetime, 0));
            Assert.Equal(0, StunTestClient.Code(deleted)); // and the server closes this control connection with it
        }
    }

    private static bool CanBind(IPEndPoint endPoint)
    {
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(endPoint);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return false;
        }
    }

    private static byte[] Frame(ushort channel, byte fill)
    {
        byte[] frame = new byte[ChannelData.HeaderLength + 100];
        ChannelData.WriteHeader(frame, channel, 100);
        frame.AsSpan(ChannelData.HeaderLength).Fill(fill);
        return frame;
    }

    private static TransportAddress[] RelayedAddresses(byte[] response)
    {
        Assert.Equal(StunParseResult.Success, StunMessageReader.TryParse(response, out StunMessageReader message));
        var relayed = new List<TransportAddress>();
        foreach (StunAttribute attribute in message.GetAttributes())
        {
            if (attribute.Type == (ushort)StunAttributeType.XorRelayedAddress && StunAddressCodec.TryDecode(attribute.Value, message.Header, out TransportAddress address))
            {
                relayed.Add(address);
            }
        }

        return [.. relayed];
    }
}
