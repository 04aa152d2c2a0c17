using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using TurnServer.Core.Allocations;
using TurnServer.Hosting.Dtls;
using TurnServer.Integration.Tests.Infrastructure;
using TurnServer.Stun;

namespace TurnServer.Integration.Tests;

/// <summary>TURN over DTLS (RFC 8656 section 3.1, RFC 6347) on the TLS port over UDP, against the in-process server.</summary>
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
        byte[] payload = [1, 2, 3, 4, 5];
        byte[] frame = new byte[ChannelData.HeaderLength + payload.Length];
        ChannelData.WriteHeader(frame, 0x4001, payload.Length);
        payload.CopyTo(frame, ChannelData.HeaderLength);
        await client.SendRawAsync(frame);

        byte[] echoed = await client.ReceiveAsync();
        Assert.Equal(frame, echoed); // 4 + 5 bytes: DTLS is a datagram transport, so ChannelData is not padded
        (byte[] data, IPEndPoint from) = Assert.Single(peer.Received);
        Assert.Equal(payload, data);
        Assert.Equal(relayed.Port, from.Port);

        Allocation allocation = Assert.Single(server.Engine.Allocations.All);
        Assert.Equal(TransportProtocol.Dtls, allocation.FiveTuple.Protocol);
        Assert.Equal(TransportAddress.FromEndPoint(client.LocalEndPoint), allocation.FiveTuple.ClientAddress);
        Assert.Equal(TransportAddress.FromEndPoint(server.DtlsEndPoints[0]), allocation.FiveTuple.ServerAddress);
        Assert.Equal(1, server.DtlsListeners[0].Counters.HandshakesCompleted);
    }
}
